"""The Python API: load a trained model and translate images in a few lines.

    from munit import Translator
    t = Translator.from_pretrained("runs/demo")
    outputs = t.translate(image, "a2b", num_styles=10, seed=0)     # ten PIL images for a PIL image

Images may be PIL images, numpy arrays (H, W, C) or (N, H, W, C) of uint8, or tensors (C, H, W) or
(N, C, H, W) of floats in [-1, 1]; results come back as the same kind. PIL images and arrays are
converted to the domain's channels and resized as the method needs (the shorter side to the training
size, both sides multiples of 2**gen.n_downsample); tensors are used as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from munit.data.images import MAX_PIXELS, to_mode, to_tensor
from munit.errors import UsageError
from munit.inference import Model, build_model, check_full_size, load_model
from munit.interop import catalogue, cyclegan
from munit.methods import config_from_dict
from munit.tiling import DEFAULT_TILE, translate_tiled
from munit.training.checkpoint import CheckpointError, check_keys
from munit.utils import atomic_write_bytes, atomic_write_text, pick_device
from munit.visual import to_pil

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
MAX_OUTPUTS = 256  # Outputs of one translate/interpolate call (num_styles, steps).
ImageLike = Any  # PIL.Image.Image | np.ndarray | torch.Tensor, or a list of PIL images.


class Translator:
    """A trained model (its generators and, for MUNIT, style and content encoders) for inference."""

    def __init__(self, model: Model):
        self.model = model
        self._compiled: dict[str, Any] | None = None  # Per direction, once compile() is called.

    method = property(lambda self: self.model.method, doc="The method (munit.methods.Method).")
    nets = property(lambda self: self.model.nets, doc="Its networks, by name (nn.ModuleDict).")
    cfg = property(lambda self: self.model.cfg, doc="The config it was trained with.")
    device = property(lambda self: self.model.device, doc="Where the networks are.")

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None,
                        use_ema: bool = True, test_noise: bool | None = None) -> Translator:
        """Load a `save_pretrained` folder, a run directory (its latest checkpoint), a checkpoint file, a
        generator file of the CycleGAN/pix2pix/CUT code (`*.pth`, e.g. a released horse2zebra.pth), or a
        released model by catalogue name ("cyclegan/horse2zebra", see munit.interop.catalogue; fetched once
        into the torch hub cache). The device is CUDA when available unless given. `test_noise` (pix2pix):
        translate with batch statistics and dropout, as the official test.py without --eval."""
        return cls(open_model(path, pick_device(str(device) if device is not None else None), use_ema, test_noise))

    def compile(self) -> Translator:
        """Translate through `torch.compile` from now on, with the weights frozen into the compiled code
        (inductor's freezing: constants folded, convolution weights prepacked). Same outputs to float
        rounding; on a 2-core CPU at batch 8, MUNIT translates at 1.85x the reference's speed at dim 16
        and 1.44x at dim 64 (1.18x and 1.20x without it; README, Speed). The first call of each direction
        and input shape compiles (tens of seconds on a CPU); weights changed afterwards are not seen.
        Returns the translator."""
        self._compiled = {}
        return self

    def save_pretrained(self, folder: str | Path, license: str | None = None) -> Path:  # noqa: A002
        """Write config.json and model.safetensors (the generators; no pickle) to `folder`, and a model card
        (README.md, as the Hugging Face Hub reads it, with the run's sample grid as sample.png when the
        model comes from a run): `license` (e.g. "mit", "cc-by-4.0") is its licence field, left out (with a
        warning) when None. Loading reads only config.json and model.safetensors."""
        from safetensors.torch import save

        from munit.card import SAMPLE, latest_grid, model_card, run_folder

        folder = Path(folder)
        # Copies: safetensors refuses tensors that share memory (layers tied between generators: CoGAN, UNIT).
        tensors = {f"{n}.{k}": v.detach().cpu().clone(memory_format=torch.contiguous_format)
                   for n in self.method.generator_names for k, v in self.nets[n].state_dict().items()}
        atomic_write_bytes(folder / WEIGHTS_FILE, save(tensors))
        meta = {"format": "munit-pretrained", "version": 1, "iteration": self.model.iteration,
                "config": self.cfg.to_dict(), "directions": list(self.method.directions)}
        atomic_write_text(folder / CONFIG_FILE, json.dumps(meta, indent=1))
        run = run_folder(self.model.source)
        grid = latest_grid(run) if run is not None else None
        if grid is not None:
            atomic_write_bytes(folder / SAMPLE, grid.read_bytes())
        atomic_write_text(folder / "README.md", model_card(self.cfg, self.model.iteration, self.model.source, license))
        return folder

    @torch.no_grad()
    def translate(self, images: ImageLike, direction: str | None = None, num_styles: int | None = None,
                  style: ImageLike | torch.Tensor | None = None, seed: int | None = None) -> Any:
        """Translate `images` of the source domain of `direction` ('a2b' or 'b2a'; a multi-domain method's:
        the target domain's name; default: the method's first direction).

        - default: one output per image, with a random style for multimodal methods;
        - `num_styles=K`: K outputs per image with K random styles (the same K for every image): a list
          of K images per PIL input, arrays (N, K, H, W, C), tensors (N, K, C, H, W);
        - `style`: a reference image of the target domain whose style every output takes, or style codes
          (style_dim,), (N, style_dim) or (N, style_dim, 1, 1) (pix2pixHD: a code in [0, 1) per class).
        `seed` makes the random styles reproducible."""
        direction = self._direction(direction)
        x, kind = self._to_batch(images, direction.source)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        if style is not None and num_styles is not None:
            raise UsageError("give num_styles or style, not both")
        if num_styles is not None:
            _check_count(num_styles, "num_styles", 1)
            codes = self.method.styles(self.nets, num_styles, self.device, generator=gen, domain=direction.target)
            outs = torch.stack([self._translate(x, direction, None if codes is None else
                                                codes[k:k + 1].expand(len(x), -1, -1, -1))
                                for k in range(num_styles)], dim=1)
            return self._from_batch(outs, kind, per_input=True)
        if style is not None:
            codes = self._style_codes(style, direction.target, len(x))
        else:
            codes = self.method.styles(self.nets, len(x), self.device, generator=gen, domain=direction.target)
        return self._from_batch(self._translate(x, direction, codes), kind)

    @torch.no_grad()
    def translate_full_size(self, image: ImageLike, direction: str | None = None,
                            style: ImageLike | torch.Tensor | None = None, seed: int | None = None,
                            tile: int = DEFAULT_TILE, overlap: int | None = None) -> Any:
        """One image translated at its own size, not resized to the training size: in overlapping tiles of
        `tile` px that share one style code (random, or `style` as in `translate`), blended over at least
        `overlap` px (default a quarter of the tile; munit.tiling). The networks' memory is one tile's
        whatever the image's size; the image's full-size maps stay in CPU memory (up to 64 megapixels).
        Takes a PIL image, a uint8 array (H, W[, C]) or a tensor (C, H, W) in [-1, 1]; returns the same
        kind, of the same size (a tensor in CPU memory)."""
        direction = self._direction(direction)
        check_full_size(self.model, direction.source, tile, overlap)
        x, kind = self._full_size_batch(image, direction.source)
        if style is not None:
            codes = self._style_codes(style, direction.target, 1)
        else:
            gen = torch.Generator().manual_seed(seed) if seed is not None else None
            codes = self.method.styles(self.nets, 1, self.device, generator=gen, domain=direction.target)
        y = translate_tiled(lambda t: self._translate(t, direction, codes), x, self.method.size_multiple(),
                            tile, overlap, self.device)
        return self._from_batch(y, kind)

    def _full_size_batch(self, image: ImageLike, domain: str) -> tuple[torch.Tensor, str]:
        """One image as (1, C, H, W) in [-1, 1] in CPU memory, and its kind."""
        channels = self.cfg.channels(domain)
        if isinstance(image, torch.Tensor):
            if image.dim() != 3 or image.shape[0] != channels or image.numel() == 0:
                raise UsageError(f"expected one image tensor (C, H, W) with C = {channels} for domain {domain}, "
                                 f"got shape {tuple(image.shape)}")
            size, kind = image.shape[1:], "tensor1"
        elif isinstance(image, np.ndarray):
            if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
                raise UsageError(f"expected one uint8 array (H, W[, C]), got {image.dtype} with shape {image.shape}")
            size, kind = image.shape[:2], "array1"
        elif isinstance(image, Image.Image):
            size, kind = (image.height, image.width), "pil"
        else:
            raise UsageError(f"expected one PIL image, uint8 array or tensor, got {type(image).__name__}")
        if size[0] * size[1] > MAX_PIXELS:  # What munit reads from a file: the full-size maps stay bounded.
            raise UsageError(f"{size[1]}x{size[0]} pixels is more than the {MAX_PIXELS:,} a full-size translation "
                             "takes")
        if kind == "tensor1":
            return image[None].to("cpu", torch.float32), kind
        if kind == "array1":
            image = Image.fromarray(image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image)
        return to_tensor(to_mode(image, channels))[None], kind

    @torch.no_grad()
    def edit(self, images: ImageLike, attributes: dict[str, float]) -> Any:
        """Fader networks: `images` decoded with attribute sliders set by name (`{"blue": 0.7, "red": 0.3}`;
        attributes not named are 0; 1 is an attribute's trained value, and values beyond [0, 1] push
        further). Returns the same kind of images as given."""
        if not hasattr(self.method, "edit"):
            raise UsageError(f"method {self.method.name!r} has no attribute sliders (Fader networks have)")
        x, kind = self._to_batch(images, "a")
        return self._from_batch(self.method.edit(self.nets, x, self.method.attributes(attributes, len(x),
                                                                                      self.device)), kind)

    @torch.no_grad()
    def encode_style(self, images: ImageLike, domain: str) -> torch.Tensor:
        """Style codes (N, style_dim) of images of domain 'a' or 'b' (reference-guided methods)."""
        x, _ = self._to_batch(images, domain)
        return self.method.encode_style(self.nets, x, domain).flatten(1)

    @torch.no_grad()
    def encode_content(self, images: ImageLike, domain: str) -> torch.Tensor:
        """Content codes (N, C', H / 2**n_downsample, W / 2**n_downsample) of images of `domain`."""
        x, _ = self._to_batch(images, domain)
        return self.method.encode_content(self.nets, x, domain)

    @torch.no_grad()
    def decode(self, content: torch.Tensor, domain: str, style: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, C, H, W) in [-1, 1] of `domain` from content codes and style codes (N, style_dim)
        (random when None)."""
        self._domain(domain)
        if not isinstance(content, torch.Tensor) or content.dim() != 4 or not content.is_floating_point():
            shape = tuple(content.shape) if isinstance(content, torch.Tensor) else type(content).__name__
            raise UsageError(f"content codes must be a float tensor (N, C', H', W') from encode_content, got {shape}")
        if not bool(torch.isfinite(content).all()):
            raise UsageError("content codes hold NaN or infinite values")
        if style is not None:
            style = _as_codes(style, content.shape[0], self.cfg.gen.style_dim).to(self.device)
        try:
            return self.method.decode(self.nets, content.to(self.device), domain, style)
        except RuntimeError as e:  # Channels (or a size) this decoder was not built for.
            raise UsageError(f"content codes of shape {tuple(content.shape)} do not fit the {domain} decoder "
                             f"({str(e).splitlines()[0][:160]}); use encode_content's") from None

    @torch.no_grad()
    def interpolate(self, image: ImageLike, style_a: ImageLike | torch.Tensor, style_b: ImageLike | torch.Tensor,
                    steps: int = 8, direction: str | None = None) -> Any:
        """Translations of one image with styles linearly interpolated from style_a to style_b (reference
        images of the target domain or style codes): `steps` outputs, as a list for a PIL image, else
        stacked along the first axis."""
        _check_count(steps, "steps", 2)
        direction = self._direction(direction)
        if not self.method.reference_guided and not self.method.multimodal:
            raise UsageError(f"method {self.method.name!r} has no style to interpolate")
        x, kind = self._to_batch(image, direction.source)
        if len(x) != 1:
            raise UsageError(f"interpolate takes one image, got {len(x)}")
        a, b = (self._style_codes(s, direction.target, 1) for s in (style_a, style_b))
        weights = torch.linspace(0, 1, steps, device=self.device).view(-1, 1, 1, 1)
        codes = (1 - weights) * a + weights * b
        outs = self._translate(x.expand(steps, -1, -1, -1), direction, codes)
        return self._from_batch(outs, kind, one_image_list=True)

    def _direction(self, value: str | None):
        return self.method.direction(value if value is not None else self.method.directions[0])

    # Conversion between the accepted image kinds and (N, C, H, W) tensors.
    def _domain(self, domain: str) -> str:
        """`domain` if the method has it (a, b, or a multi-domain method's names); UsageError naming them."""
        known = ("a", *self.method.domains) if self.method.multi_domain else ("a", "b")
        if domain not in known:
            raise UsageError(f"domain {domain!r}: method {self.method.name!r} has the domains "
                             f"{', '.join(known[1:] if self.method.multi_domain else known)}")
        return domain

    def _to_batch(self, images: ImageLike, domain: str) -> tuple[torch.Tensor, str]:
        channels = self.cfg.channels(self._domain(domain))
        if isinstance(images, torch.Tensor):
            x = images if images.dim() == 4 else images.unsqueeze(0)
            if x.dim() != 4 or x.shape[1] != channels or x.numel() == 0:
                raise UsageError(f"expected a tensor (C, H, W) or (N, C, H, W) with C = {channels} for domain "
                                 f"{domain}, got shape {tuple(images.shape)}")
            self._check_tensor(x, domain)
            return x.to(self.device, torch.float32), "tensor" if images.dim() == 4 else "tensor1"
        if isinstance(images, Image.Image):
            return self._pil_batch([images], domain), "pil"
        if isinstance(images, (list, tuple)) and images and all(isinstance(i, Image.Image) for i in images):
            return self._pil_batch(list(images), domain), "pil_list"
        if isinstance(images, np.ndarray):
            if images.dtype != np.uint8 or images.ndim not in (2, 3, 4) or images.size == 0:
                raise UsageError(f"expected a non-empty uint8 array (H, W[, C]) or (N, H, W, C), got "
                                 f"{images.dtype} with shape {images.shape}")
            batch = images if images.ndim == 4 else images[None]
            pils = [Image.fromarray(a[:, :, 0] if a.ndim == 3 and a.shape[2] == 1 else a) for a in batch]
            return self._pil_batch(pils, domain), "array" if images.ndim == 4 else "array1"
        raise UsageError(f"expected PIL images, a uint8 numpy array or a float tensor, got {type(images).__name__}")

    def _check_tensor(self, x: torch.Tensor, domain: str) -> None:
        """Tensors are taken as they are, so they must already be what the networks take: floats in [-1, 1]
        (uint8, integer or boolean tensors, 0..255 values, NaN gave garbage) of a size the generators keep
        (a 30 x 30 tensor came back 28 x 28; 2 x 2 failed inside a padding)."""
        if not x.is_floating_point():
            raise UsageError(f"expected a float tensor in [-1, 1], got {str(x.dtype).removeprefix('torch.')} "
                             "(from uint8: x.float() / 127.5 - 1)")
        if not bool(torch.isfinite(x).all()):
            raise UsageError("the image tensor holds NaN or infinite values")
        low, high = float(x.min()), float(x.max())
        if low < -1.01 or high > 1.01:
            raise UsageError(f"expected values in [-1, 1], got {low:.3g} to {high:.3g} (from 0..255: x / 127.5 - 1)")
        height, width = x.shape[2:]
        if self.method.fixed_size:
            size = (self.cfg.crop_image_height, self.cfg.crop_image_width)
            if (height, width) != size:
                raise UsageError(f"method {self.method.name!r} takes {size[0]}x{size[1]} tensors, got {height}x"
                                 f"{width} (a PIL image or array is resized for you)")
            return
        multiple, least = self.method.size_multiple(), self.method.min_image_size(self.cfg)
        if height % multiple or width % multiple or min(height, width) < least:
            raise UsageError(f"tensor sides must be multiples of {multiple} and at least {least} px for these "
                             f"networks, got {height}x{width} (a PIL image or array is resized for you)")

    def _pil_batch(self, images: list[Image.Image], domain: str) -> torch.Tensor:
        for img in images:
            if img.width == 0 or img.height == 0:
                raise UsageError(f"an image of {img.width}x{img.height} pixels has nothing to translate")
        tensors = [self.method.prepare_image(img, domain) for img in images]
        if len({t.shape for t in tensors}) > 1:
            raise UsageError("images of one call must have one size after resizing; pass them one by one")
        return torch.stack(tensors).to(self.device)

    def _from_batch(self, y: torch.Tensor, kind: str, per_input: bool = False, one_image_list: bool = False):
        if kind.startswith("tensor"):
            return y[0] if kind == "tensor1" and not per_input and not one_image_list else y
        if kind.startswith("array"):
            flat = np.stack([np.asarray(to_pil(img)) for img in (y.flatten(0, 1) if per_input else y)])
            arr = flat.reshape(*y.shape[:2], *flat.shape[1:]) if per_input else flat
            return arr[0] if kind == "array1" and not one_image_list else arr
        if per_input:
            pils = [[to_pil(img) for img in row] for row in y]
            return pils[0] if kind == "pil" else pils
        pils = [to_pil(img) for img in y]
        return pils if kind == "pil_list" or one_image_list else pils[0]

    def _translate(self, x: torch.Tensor, direction: str, codes: torch.Tensor | None) -> torch.Tensor:
        if self._compiled is None:
            return self.method.translate(self.nets, x, direction, codes)
        key = str(direction)
        if key not in self._compiled:
            self._compiled[key] = compiled_translation(self.method, self.nets, direction)
        return self._compiled[key](x, codes)

    def _style_codes(self, style, domain: str, n: int) -> torch.Tensor:
        if isinstance(style, torch.Tensor) and style.dim() <= 2 or (
                isinstance(style, torch.Tensor) and style.dim() == 4 and style.shape[-2:] == (1, 1)):
            return _as_codes(style, n, self.method.code_dim).to(self.device)
        references, _ = self._to_batch(style, domain)
        return self.method.styles(self.nets, n, self.device, references=references, domain=domain)



def compiled_translation(method, nets, direction):
    """`method.translate(nets, x, direction, style)` as a function of (x, style) compiled by torch.compile
    for inference, the networks' weights frozen in as constants."""
    import torch._inductor.config as inductor_config

    compiled = torch.compile(lambda x, style: method.translate(nets, x, direction, style))

    def translate(x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        with torch.no_grad(), inductor_config.patch(freezing=True):
            return compiled(x, style)
    return translate


def open_model(path: str | Path, device: torch.device | str = "cpu", use_ema: bool = True,
               test_noise: bool | None = None) -> Model:
    """Any model file or folder munit reads, by what it is: a save_pretrained folder, a munit run or
    checkpoint, an official CycleGAN/pix2pix/CUT generator file (.pth) or a catalogued model's name.
    `test_noise` overrides the config's (pix2pix only)."""
    if catalogue.is_name(path) and not Path(path).exists():
        name, path = str(path), catalogue.fetch(str(path))
        try:
            return open_model(path, device, use_ema, test_noise)
        except CheckpointError as e:  # Damaged in the cache since (or by an older munit): say so.
            raise CheckpointError(f"{e}; it is the cached download of {name}: delete {path} and it is "
                                  "fetched again") from None
    path = Path(path)
    if (path / WEIGHTS_FILE).is_file():
        model = _load_pretrained(path, torch.device(device))
    elif cyclegan.is_official_generator(path):
        try:
            model = cyclegan.load_generator(path, device)
        except cyclegan.MunitCheckpointFile:  # A munit checkpoint named .pth.
            model = load_model(path, device, use_ema)
    else:
        model = load_model(path, device, use_ema)
    if test_noise is not None:
        if model.cfg.method != "pix2pix":
            raise UsageError(f"test_noise: {path} is a {model.cfg.method} model; only pix2pix translates with "
                             "test-time noise")
        model.cfg.test_noise = test_noise
    return model


def _check_count(value, name: str, low: int) -> None:
    """Outputs per call are held in memory together: an int in [low, MAX_OUTPUTS]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not low <= value <= MAX_OUTPUTS:
        raise UsageError(f"{name} must be between {low} and {MAX_OUTPUTS} (outputs of one call are held in "
                         f"memory together; call again for more), got {value}")


def _as_codes(style: torch.Tensor, n: int, style_dim: int) -> torch.Tensor:
    length = style.shape[-3] if style.dim() == 4 else style.shape[-1] if style.dim() else 0
    if length != style_dim or style.dim() > 4:
        raise UsageError(f"style codes must be (style_dim,), (N, style_dim) or (N, style_dim, 1, 1) with "
                         f"style_dim = {style_dim}, got shape {tuple(style.shape)}")
    if not style.is_floating_point() or not bool(torch.isfinite(style).all()):
        raise UsageError("style codes must be finite floats")
    codes = style.reshape(-1, length)
    if len(codes) not in (1, n):
        raise UsageError(f"got {len(codes)} style codes for {n} images; give 1 or {n}")
    return codes.expand(n, -1)[:, :, None, None].float()


def _load_pretrained(folder: Path, device: torch.device) -> Model:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        meta = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{folder / CONFIG_FILE}: not a readable munit config ({e})") from None
    except RecursionError:
        raise CheckpointError(f"{folder / CONFIG_FILE}: not a munit config (nested too deeply)") from None
    if not isinstance(meta, dict) or meta.get("format") != "munit-pretrained":
        raise CheckpointError(f"{folder / CONFIG_FILE}: not written by Translator.save_pretrained")
    check_keys(meta, {"config": dict, "iteration": int}, str(folder / CONFIG_FILE))
    cfg = config_from_dict(meta["config"], source=str(folder / CONFIG_FILE), warn_unused=False)
    try:
        tensors = load_file(str(folder / WEIGHTS_FILE))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{folder / WEIGHTS_FILE}: not a readable safetensors file ({e})") from None
    states = {}
    for key, value in tensors.items():
        net, _, param = key.partition(".")
        states.setdefault(net, {})[param] = value
    model = build_model(cfg, states, folder / WEIGHTS_FILE, meta["iteration"], device)
    directions = meta.get("directions", list(model.method.directions))  # Fewer for a one-way import.
    if (not isinstance(directions, list) or not directions
            or not all(isinstance(d, str) and d in model.method.directions for d in directions)):
        raise CheckpointError(f"{folder / CONFIG_FILE}: 'directions' is {directions!r}, expected a list of "
                              f"{', '.join(model.method.directions)}")
    model.method.directions = tuple(directions)
    return model
