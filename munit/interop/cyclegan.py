"""Generator files of junyanz/pytorch-CycleGAN-and-pix2pix (`latest_net_G.pth`, `<name>.pth` of its released
models), read into munit's CycleGAN and written back from a munit CycleGAN run.

The official `ResnetGenerator` (reflect-pad c7s1, stride-2 convs, residual blocks, transposed convs, c7s1 +
tanh; instance norm without affine parameters) is munit's `ResnetGenerator` layer for layer, in the same
order: a state dict converts by pairing tensors in order, each pair checked by shape. The architecture is
read from the file: channels from the first conv, the block count from the `conv_block` keys.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from munit.inference import Model, build_model
from munit.methods import config_from_dict
from munit.nets.baselines import ResnetGenerator
from munit.training.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint, safe_load
from munit.utils import atomic_torch_save

STALE_NORM_STATS = re.compile(r"\.(running_mean|running_var|num_batches_tracked)$")  # PyTorch < 0.4 files.
BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.")
FILE_NAMES = {"gen_ab": "latest_net_G_A.pth", "gen_ba": "latest_net_G_B.pth"}  # The official test.py's names.


def is_official_generator(path: Path) -> bool:
    """Whether `path` is a file the official CycleGAN/pix2pix/CUT code wrote (not a munit checkpoint)."""
    return path.is_file() and path.suffix == ".pth"


def describe(state: dict) -> str:
    """What a generator state dict is, in words, for messages."""
    keys = set(state)
    if any(k.endswith(".filt") for k in keys):
        return "CUT's antialiased ResNet generator"
    if "model.model.0.weight" in keys:
        return "pix2pix's U-Net generator"
    if "model.1.weight" in keys and any(BLOCK.match(k) for k in keys):
        return "CycleGAN's ResNet generator"
    return f"not a generator of the CycleGAN/pix2pix/CUT code (keys {sorted(keys)[:3]})"


def read_generator(path: str | Path) -> dict[str, torch.Tensor]:
    """An official CycleGAN ResNet generator's state dict without stale norm statistics; CheckpointError for
    files of another kind, naming what was found."""
    path = Path(path)
    state = safe_load(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a generator state dict of the CycleGAN/pix2pix code")
    state = {k: v for k, v in state.items() if not STALE_NORM_STATS.search(k)}
    kind = describe(state)
    if kind != "CycleGAN's ResNet generator":
        raise CheckpointError(f"{path}: found {kind}; munit reads CycleGAN's ResNet generators (resnet_6blocks, "
                              "resnet_9blocks) so far")
    return state


def config_of(state: dict[str, torch.Tensor]) -> dict:
    """The munit CycleGAN config whose `gen_ab` has the file's architecture."""
    first, last = state["model.1.weight"], state[_last_conv(state)]
    blocks = len({BLOCK.match(k).group(1) for k in state if BLOCK.match(k)})
    downs = sum(1 for k, v in state.items() if k.endswith(".weight") and v.dim() == 4 and v.shape[-1] == 3
                and not BLOCK.match(k)) // 2  # As many stride-2 convs as transposed convs.
    return {"method": "cyclegan", "input_dim_a": first.shape[1], "input_dim_b": last.shape[0],
            "new_size": 256, "crop_image_height": 256, "crop_image_width": 256,
            "gen": {"dim": first.shape[0], "n_res": blocks, "n_downsample": downs}}


def _last_conv(state: dict) -> str:
    return max((k for k in state if k.endswith(".weight") and not BLOCK.match(k)),
               key=lambda k: int(k.split(".")[1]))


def convert(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor], source: Path) -> dict[str, torch.Tensor]:
    """Pair the tensors of two layouts of the same network in order; CheckpointError at the first shape that
    differs."""
    if len(state) != len(own):
        raise CheckpointError(f"{source}: {len(state)} tensors, the generator has {len(own)}")
    for (theirs, a), (ours, b) in zip(state.items(), own.items(), strict=True):
        if a.shape != b.shape:
            raise CheckpointError(f"{source}: {theirs} has shape {tuple(a.shape)} where {ours} needs {tuple(b.shape)}")
    return dict(zip(own, state.values(), strict=True))


def load_generator(path: str | Path, device: torch.device | str = "cpu", size: int = 256) -> Model:
    """A Model translating a2b with the official generator in `path` (one direction per file: horse2zebra.pth
    translates horses; `size` is the shorter side inputs are resized to, 256 for the released models)."""
    path = Path(path)
    state = read_generator(path)
    raw = config_of(state)
    raw.update(new_size=size, crop_image_height=size, crop_image_width=size)
    cfg = config_from_dict(raw, source=f"{path} (architecture read from the file)", warn_unused=False)
    g = cfg.gen
    own = ResnetGenerator(cfg.input_dim_a, cfg.input_dim_b, g.dim, g.n_downsample, g.n_res).state_dict()
    states = {"gen_ab": convert(state, own, path)}
    model = build_model(cfg, states, path, 0, device, required=("gen_ab",))
    model.method.directions = ("a2b",)  # The file holds one generator.
    return model


def export_run(run: str | Path, output: str | Path) -> list[Path]:
    """Write a munit CycleGAN run's generators in the official layout: latest_net_G_A.pth (A -> B) and
    latest_net_G_B.pth (B -> A), loadable by the official test.py and by `load_generator`."""
    file = resolve_checkpoint(run)
    state = load_checkpoint(file)
    if state["method"] != "cyclegan":
        raise CheckpointError(f"{file}: method {state['method']!r}; only cyclegan runs have the official layout")
    cfg = config_from_dict(state["config"], source=f"{file} (embedded config)", warn_unused=False)
    official = _official_keys(cfg.gen.n_downsample, cfg.gen.n_res)
    written = []
    for name, file_name in FILE_NAMES.items():
        ours = state["nets"][name]
        if len(official) != len(ours):
            raise CheckpointError(f"{file}: {name} does not have the official ResNet layout")
        target = Path(output) / file_name
        atomic_torch_save(dict(zip(official, ours.values(), strict=True)), target)
        written.append(target)
    return written


def _official_keys(n_downsample: int, n_res: int) -> list[str]:
    """The official ResnetGenerator's parameter names: its nn.Sequential positions of convs (pads, norms
    and activations hold no parameters)."""
    keys, i = ["model.1.weight", "model.1.bias"], 4  # 0 pad, 1 conv, 2 norm, 3 relu.
    for _ in range(n_downsample):
        keys += [f"model.{i}.weight", f"model.{i}.bias"]
        i += 3
    for _ in range(n_res):
        keys += [f"model.{i}.conv_block.{j}.{p}" for j in (1, 5) for p in ("weight", "bias")]
        i += 1
    for _ in range(n_downsample):
        keys += [f"model.{i}.weight", f"model.{i}.bias"]
        i += 3
    return keys + [f"model.{i + 1}.weight", f"model.{i + 1}.bias"]  # i is the reflection pad.
