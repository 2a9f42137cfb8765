"""Loading a trained run and translating images with it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from munit.config import Config
from munit.data.images import IMAGE_EXTENSIONS, DataError, find_images, open_image, to_mode, to_tensor
from munit.data.labels import open_label
from munit.errors import UsageError
from munit.methods import Method, build_method, config_from_dict
from munit.tiling import DEFAULT_TILE, check_tiling, translate_tiled
from munit.training.checkpoint import load_checkpoint, load_networks, resolve_checkpoint
from munit.visual import save_png, to_pil, write_sample_grid


@dataclass
class Model:
    """A trained method ready to translate: its config, method and networks (EMA generators if any)."""

    cfg: Config
    method: Method
    nets: nn.ModuleDict
    source: Path
    iteration: int

    @property
    def device(self) -> torch.device:
        return next(self.nets.parameters()).device


def build_model(cfg: Config, states: dict[str, dict], source: Path, iteration: int,
                device: torch.device | str = "cpu", required: tuple[str, ...] | None = None) -> Model:
    """The one way a Model is made (run checkpoints, save_pretrained folders and other codebases' files are
    read into this): the config's method and networks, `states` loaded by network name (the `required`
    ones must be there, by default every generator; others, e.g. discriminators, where given), in eval mode
    on `device`."""
    method = build_method(cfg)
    nets = method.build_networks()
    required = method.generator_names if required is None else required
    names = [n for n in nets if n in states or n in required]
    load_networks(nn.ModuleDict({n: nets[n] for n in names}), states, source)
    nets.to(device).eval().requires_grad_(False)
    return Model(cfg, method.to(torch.device(device)), nets, Path(source), iteration)


def load_model(path: str | Path, device: torch.device | str = "cpu", use_ema: bool = True) -> Model:
    """Load a run directory (its latest checkpoint) or a checkpoint file for inference; its EMA generators
    where it has them, unless `use_ema` is False."""
    file = resolve_checkpoint(path)
    state = load_checkpoint(file, map_location="cpu")
    cfg = config_from_dict(state["config"], source=f"{file} (embedded config)", warn_unused=False)
    states = {**state["nets"], **(state.get("ema") or {} if use_ema else {})}
    return build_model(cfg, states, file, int(state["iteration"]), device)


def prepare(path: Path, model: Model, domain: str) -> torch.Tensor:
    """Open an image for the networks: the domain's channels, resized as the method needs (see
    `Method.inference_size`). Returns (1, C, H, W) in [-1, 1]. A label map's instance map, with
    use_instance, is the file of the same name in the `<folder>_inst` folder beside it, where there is one;
    else the class boundaries stand in for the instance boundaries."""
    if model.method.labels(domain):
        instance = path.parent.with_name(path.parent.name + "_inst") / path.name
        use = model.cfg.use_instance and instance.is_file()
        packed = open_label(path, model.cfg.label_nc, instance if use else None)
        return model.method.prepare_label(packed)[None]
    img = open_image(path, model.cfg.input_dim(domain))
    try:
        return model.method.prepare_image(img, domain)[None]
    except DataError as e:
        raise DataError(f"{path}: {e}") from None


def prepare_full_size(path: Path, model: Model, domain: str) -> torch.Tensor:
    """Open an image at its own size, for tiled translation: (1, C, H, W) in [-1, 1], the domain's channels."""
    return to_tensor(to_mode(open_image(path, model.cfg.input_dim(domain)), model.cfg.input_dim(domain)))[None]


def check_full_size(model: Model, domain: str, tile: int, overlap: int | None) -> None:
    """Refuse tiled translation where the networks cannot take other sizes, or the input is a label map."""
    method = model.method
    if method.fixed_size:
        raise UsageError(f"full-size translation: method {model.cfg.method!r} takes only its training size "
                         f"({model.cfg.crop_image_width}x{model.cfg.crop_image_height} px)")
    if method.labels(domain):
        raise UsageError("full-size translation: label maps are translated at the training size only")
    check_tiling(tile, overlap, method.size_multiple())


def input_paths(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        return find_images(path)
    if not path.is_file():
        raise DataError(f"{path}: no such image file or folder")
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise DataError(f"{path}: not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)})")
    return [path]


@torch.no_grad()
def translate_files(model: Model, inputs: str | Path, output: str | Path, direction: str = "a2b",
                    num_styles: int = 10, style_image: str | Path | None = None, seed: int = 10,
                    full_size: bool = False, tile: int = DEFAULT_TILE, overlap: int | None = None) -> list[Path]:
    """Translate every input image; write `<stem>_style<j>.png` (random styles) or `<stem>_ref.png`
    (the style of `style_image`) into `output`, in the subfolders the inputs have under `inputs` (a
    name shared by two inputs of one folder, x.png and x.jpg, keeps its extension: `x.jpg_ref.png`).
    Each output is written as soon as it is made. Returns the written paths.

    Inputs are resized to the training size (shorter side), unless `full_size`: then each is translated at
    its own size in overlapping tiles of `tile` px sharing its style code (munit.tiling): the network's
    memory is a tile's, the image's maps stay in CPU memory."""
    direction = model.method.direction(direction)
    if full_size:
        check_full_size(model, direction.source, tile, overlap)
    output = Path(output)
    device = model.device
    paths = input_paths(inputs)
    names = output_names(paths, Path(inputs))
    written = []
    generator = torch.Generator().manual_seed(seed)
    style = None
    if style_image is not None:
        if not model.method.reference_guided:
            raise UsageError(f"--style: method {model.cfg.method!r} cannot copy the style of a reference image")
        ref = prepare(Path(style_image), model, direction.target)
        style = model.method.styles(model.nets, 1, device, references=ref, domain=direction.target)
    for path, name in tqdm(list(zip(paths, names, strict=True)), unit="img",
                           disable=None if len(paths) > 1 else True):
        # A full-size image stays in CPU memory; only its tiles go to the device.
        x = prepare_full_size(path, model, direction.source) if full_size else \
            prepare(path, model, direction.source).to(device)
        if style is not None:
            jobs = [("ref", style)]
        elif model.method.multimodal:
            jobs = style_jobs(model, num_styles, generator, direction.target)
        else:
            jobs = [("out", None)]
        for tag, code in jobs:
            target = output / f"{name}_{tag}.png"
            if full_size:
                y = translate_tiled(lambda t, c=code: model.method.translate(model.nets, t, direction, c), x,
                                    model.method.size_multiple(), tile, overlap, device)
            else:
                y = model.method.translate(model.nets, x, direction, code)
            save_png(to_pil(y[0]), target)
            written.append(target)
    return written


STYLE_CHUNK = 64  # Codes drawn at a time: memory stays flat whatever --num-styles asks for.


def style_jobs(model: Model, num_styles: int, generator: torch.Generator, domain: str):
    """(tag, code) for each of `num_styles` random codes, drawn `STYLE_CHUNK` at a time (up to that many,
    the codes are those of one draw of all, as the API's)."""
    for start in range(0, num_styles, STYLE_CHUNK):
        n = min(STYLE_CHUNK, num_styles - start)
        codes = model.method.styles(model.nets, n, model.device, generator, domain=domain)
        for j in range(n):
            yield f"style{start + j:02d}", codes[j:j + 1]


def output_names(paths: list[Path], inputs: Path) -> list[str]:
    """Output name stems, one per input and all different: each input's path under the `inputs` folder
    without its extension, or with it where two inputs of one folder share a stem; a name that is still
    taken (x.png's "x.png" and x.png.png's stem) gets "~2", "~3", ... in input order."""
    rel = [p.relative_to(inputs) if inputs.is_dir() else Path(p.name) for p in paths]
    stems = [r.with_suffix("") for r in rel]
    shared = {s for s, n in Counter(stems).items() if n > 1}
    names = [str(r if s in shared else s) for r, s in zip(rel, stems, strict=True)]
    taken, unique = set(names), []
    for name in names:
        if name in unique:
            k = 2
            while f"{name}~{k}" in taken:
                k += 1
            name = f"{name}~{k}"
            taken.add(name)
        unique.append(name)
    return unique


@torch.no_grad()
def sample_grids(model: Model, output: str | Path, num_inputs: int = 8, num_styles: int = 5, num_refs: int = 4,
                 seed: int = 10, codes: str = "spread") -> list[Path]:
    """One grid per direction on the run's test data (see `munit.visual.sample_grid`). `codes`: "spread"
    shows the `num_styles` codes of 64 random draws whose outputs differ most (`spread_codes`),
    "random" the first `num_styles` draws."""
    from munit.data import build_data, displays

    if codes not in ("spread", "random"):
        raise UsageError(f"codes must be spread or random; got {codes!r}")
    device = model.device
    generator = torch.Generator().manual_seed(seed)
    shown = displays(model.cfg, build_data(model.cfg, "test", type(model.method)), num_inputs, num_refs)
    written = []
    for direction in map(model.method.direction, model.method.directions):
        x, refs = shown[direction.source].to(device), shown[f"ref_{direction.target}"].to(device)
        if codes == "spread" and model.method.multimodal:
            styles = spread_codes(model.method, model.nets, x, refs, direction, num_styles, generator)
        else:
            styles = model.method.random_styles(num_styles, torch.device("cpu"), generator).to(device)
        path = Path(output) / f"{direction}_{model.iteration:08d}.png"
        written.append(write_sample_grid(model.method, model.nets, x, refs, direction, styles, path))
    return written


def random_columns(method: Method, nets: nn.ModuleDict, x: torch.Tensor, refs: torch.Tensor, direction: str,
                   styles: torch.Tensor) -> list[torch.Tensor]:
    """The translations of x with each code of `styles`, as `sample_columns` makes them: its random-style
    columns are the len(styles) columns just before the reference columns (one per reference image of a
    reference-guided method, last)."""
    columns = method.sample_columns(nets, x, refs, direction, styles)
    end = len(columns) - (len(refs) if method.reference_guided else 0)
    return [y for _, y in columns[end - len(styles):end]]


@torch.no_grad()
def spread_codes(method: Method, nets: nn.ModuleDict, x: torch.Tensor, refs: torch.Tensor, direction: str,
                 n: int, generator: torch.Generator, pool: int = 64, chunk: int = 8) -> torch.Tensor:
    """n codes out of `pool` random draws whose translations of x differ most (farthest-point selection on
    the outputs at 8x8, starting from the first draw), so that a grid shows the range of styles a model
    has. n plain draws would show whatever those draws land on, and which styles a given draw gives
    depends on the machine: the same seed trains slightly different networks on different CPUs."""
    device = x.device
    candidates = method.random_styles(max(pool, n), torch.device("cpu"), generator).to(device)
    looks = torch.cat([torch.stack([F.adaptive_avg_pool2d(y.float(), 8).flatten().cpu()
                                    for y in random_columns(method, nets, x, refs, direction, part)])
                       for part in candidates.split(chunk)])
    picked = [0]
    nearest = torch.cdist(looks, looks[:1]).squeeze(1)
    for _ in range(n - 1):
        nearest[picked] = -1  # Never the same draw twice, even from a model whose outputs ignore the code.
        picked.append(int(nearest.argmax()))
        nearest = torch.minimum(nearest, torch.cdist(looks, looks[picked[-1]:picked[-1] + 1]).squeeze(1))
    return candidates[picked]
