"""Generator files of junyanz/pytorch-CycleGAN-and-pix2pix and taesungp/contrastive-unpaired-translation
(`latest_net_G.pth`, `<name>.pth` of their released models), read into munit's CycleGAN, pix2pix and CUT,
and written back from munit runs of those methods.

Three kinds, told apart by their keys: CycleGAN's `ResnetGenerator` (6 or 9 blocks, instance norm), CUT's
antialiased one (fixed blur filters stored as `...filt` buffers) and pix2pix's `UnetGenerator` (nested
levels, batch norm). munit's networks compute the same layers; each names the official module behind
each of its own (`official_prefixes`), so a file converts by name, every tensor checked by shape. The
architecture is read from the file: channels from the first conv, block and level counts from the keys.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from munit.inference import Model, build_model
from munit.methods import build_method, config_from_dict
from munit.nets.baselines import UnetGenerator
from munit.training.checkpoint import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    load_networks,
    resolve_checkpoint,
    safe_load,
)
from munit.utils import atomic_torch_save

STALE_NORM_STATS = re.compile(r"\.(running_mean|running_var|num_batches_tracked)$")  # PyTorch < 0.4 files.
BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.")
KINDS = {  # kind: (munit method, its generator, in words)
    "resnet": ("cyclegan", "gen_ab", "CycleGAN's ResNet generator"),
    "cut": ("cut", "gen", "CUT's antialiased ResNet generator"),
    "unet": ("pix2pix", "gen", "pix2pix's U-Net generator"),
}
# The file names the official code writes and its test.py reads, per method and munit generator.
FILE_NAMES = {"cyclegan": {"gen_ab": "latest_net_G_A.pth", "gen_ba": "latest_net_G_B.pth"},
              "pix2pix": {"gen": "latest_net_G.pth"}, "cut": {"gen": "latest_net_G.pth"}}


class MunitCheckpointFile(CheckpointError):
    """A .pth file that holds a munit checkpoint: read it as one (what a file is goes by its content)."""


def is_official_generator(path: Path) -> bool:
    """Whether `path` is a file the official CycleGAN/pix2pix/CUT code wrote (not a munit checkpoint)."""
    return path.is_file() and path.suffix == ".pth"


def kind_of(state: dict) -> str | None:
    """"resnet", "cut" or "unet" by the keys of a generator state dict; None for anything else."""
    keys = set(state)
    if "model.model.0.weight" in keys:
        return "unet"
    if "model.1.weight" in keys and any(BLOCK.match(k) for k in keys):
        return "cut" if any(k.endswith(".filt") for k in keys) else "resnet"
    return None


def describe(state: dict) -> str:
    """What a state dict is, in words, for messages."""
    kind = kind_of(state)
    return KINDS[kind][2] if kind else f"not a generator of the CycleGAN/pix2pix/CUT code (keys {sorted(state)[:3]})"


def read_generator(path: str | Path) -> tuple[str, dict[str, torch.Tensor]]:
    """The kind and state dict of an official generator file (ResNet files without the instance-norm
    statistics PyTorch < 0.4 saved); CheckpointError for files of another kind, naming what was found."""
    path = Path(path)
    state = safe_load(path)
    if isinstance(state, dict) and state.get("format") == FORMAT:
        raise MunitCheckpointFile(f"{path}: a munit checkpoint, not a file of the CycleGAN/pix2pix/CUT code")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a generator state dict of the CycleGAN/pix2pix/CUT code")
    kind = kind_of(state)
    if kind is None:
        raise CheckpointError(f"{path}: found {describe(state)}; expected one of "
                              f"{', '.join(v[2] for v in KINDS.values())}")
    if kind != "unet":  # The U-Net's batch norms keep their statistics; instance norm has none.
        state = {k: v for k, v in state.items() if not STALE_NORM_STATS.search(k)}
    return kind, state


def conv_weight(state: dict[str, torch.Tensor], key: str, path: Path) -> torch.Tensor:
    """state[key], which the architecture's inference reads as a conv's (out, in, kh, kw) weight."""
    if key not in state:
        raise CheckpointError(f"{path}: {key} missing (the generator's architecture is read from it)")
    if state[key].dim() != 4:
        raise CheckpointError(f"{path}: {key} has shape {tuple(state[key].shape)}, expected a conv weight "
                              "(out, in, height, width)")
    return state[key]


def config_of(kind: str, state: dict[str, torch.Tensor], path: Path = Path("generator")) -> dict:
    """The munit config whose generator has the file's architecture."""
    convs = [k for k, v in state.items() if k.endswith(".weight") and v.dim() == 4 and not BLOCK.match(k)]
    if kind == "unet":
        first, last = conv_weight(state, "model.model.0.weight", path), conv_weight(state, "model.model.3.weight", path)
        levels = len(convs) // 2
        norm = "bn" if any(k.endswith(".running_mean") for k in state) else "in"
        return {"method": "pix2pix", "input_dim_a": first.shape[1], "input_dim_b": last.shape[1],
                "new_size": 2 ** levels, "crop_image_height": 2 ** levels, "crop_image_width": 2 ** levels,
                "gen": {"dim": first.shape[0], "norm": norm}}
    first = conv_weight(state, "model.1.weight", path)
    last = state[max(convs, key=lambda k: int(k.split(".")[1]))]
    blocks = len({BLOCK.match(k).group(1) for k in state if BLOCK.match(k)})
    return {"method": KINDS[kind][0], "input_dim_a": first.shape[1], "input_dim_b": last.shape[0],
            "new_size": 256, "crop_image_height": 256, "crop_image_width": 256,
            "gen": {"dim": first.shape[0], "n_res": blocks, "n_downsample": (len(convs) - 2) // 2}}


def to_munit(state: dict[str, torch.Tensor], net: nn.Module, source: Path) -> dict[str, torch.Tensor]:
    """An official state dict in `net`'s names; CheckpointError naming missing, unexpected or misshapen keys."""
    official = _official_names(net)
    theirs = dict(state)
    if isinstance(net, UnetGenerator):  # Files of PyTorch < 0.4.1 lack the batch counters.
        for key in official.values():
            if key.endswith(".num_batches_tracked"):
                theirs.setdefault(key, torch.tensor(0))
    problems = [f"{k} missing" for k in official.values() if k not in theirs]
    problems += [f"{k} unexpected" for k in theirs.keys() - set(official.values())]
    own = net.state_dict()
    problems += [f"{k} has shape {tuple(theirs[k].shape)} where {ours} needs {tuple(own[ours].shape)}"
                 for ours, k in official.items() if k in theirs and theirs[k].shape != own[ours].shape]
    if problems:
        shown = "; ".join(sorted(problems)[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise CheckpointError(f"{source}: does not match {type(net).__name__} of its inferred size: {shown}")
    converted = {ours: theirs[k] for ours, k in official.items()}
    return net.swap_skip_halves(converted) if isinstance(net, UnetGenerator) else converted


def to_official(state: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """`net`'s state dict in the official names (what the official test.py loads)."""
    if isinstance(net, UnetGenerator):
        state = net.swap_skip_halves(state)
    return {theirs: state[ours] for ours, theirs in _official_names(net).items()}


def _official_names(net: nn.Module) -> dict[str, str]:
    """Each tensor name of `net` -> the official one."""
    prefixes = net.official_prefixes()
    names = {}
    for key in net.state_dict():
        module, _, tensor = key.rpartition(".")
        names[key] = f"{prefixes[module]}.{tensor}"
    return names


def load_generator(path: str | Path, device: torch.device | str = "cpu", size: int = 256,
                   test_noise: bool = False) -> Model:
    """A Model translating a2b with the official generator in `path` (one direction per file: horse2zebra.pth
    translates horses). `size`: the shorter side inputs are resized to, 256 for the released ResNet models
    (a U-Net takes the size it was built for). `test_noise`: pix2pix translates as the official test.py
    does without --eval (batch statistics, dropout on)."""
    path = Path(path)
    kind, state = read_generator(path)
    raw = config_of(kind, state, path)
    if kind == "unet":
        raw["test_noise"] = test_noise
    else:
        raw.update(new_size=size, crop_image_height=size, crop_image_width=size)
    # The file holds no discriminator: give the unused one as many layers as the image size allows (the
    # default 4 needs 48 px, which refused the generator of a 32-px pix2pix run).
    side = raw["crop_image_height"]
    raw["dis"] = {"n_layer": max(1, min(3, (side // 3).bit_length() - 1))}
    cfg = config_from_dict(raw, source=f"{path} (architecture read from the file)", warn_unused=False)
    name = KINDS[kind][1]
    model = build_model(cfg, {}, path, 0, device, required=())
    load_networks(nn.ModuleDict({name: model.nets[name]}), {name: to_munit(state, model.nets[name], path)}, path)
    model.method.directions = ("a2b",)  # The file holds one generator.
    return model


def export_run(run: str | Path, output: str | Path) -> list[Path]:
    """Write a munit CycleGAN, pix2pix or CUT run's generators in the official layout (CycleGAN:
    latest_net_G_A.pth, A -> B, and latest_net_G_B.pth; the others: latest_net_G.pth), loadable by the
    official test.py and by `load_generator`."""
    file = resolve_checkpoint(run)
    state = load_checkpoint(file)
    if state["method"] not in FILE_NAMES:
        raise CheckpointError(f"{file}: method {state['method']!r}; only {', '.join(FILE_NAMES)} runs have an "
                              "official layout")
    cfg = config_from_dict(state["config"], source=f"{file} (embedded config)", warn_unused=False)
    nets = build_method(cfg).build_networks()
    written = []
    for name, file_name in FILE_NAMES[cfg.method].items():
        target = Path(output) / file_name
        atomic_torch_save(to_official(state["nets"][name], nets[name]), target)
        written.append(target)
    return written
