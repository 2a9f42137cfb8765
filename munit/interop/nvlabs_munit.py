"""Interoperability with NVlabs/MUNIT: its generator, discriminator and optimizer checkpoints.

The networks' state dicts are key for key the reference's, so conversion only has to drop the
instance-norm running statistics that PyTorch 0.3 saved (the released pretrained models have them) and
accept files without the AdaIN layers' unused buffers.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from munit.config import Config
from munit.inference import Model, build_model
from munit.methods import build_method, load_config
from munit.training.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint, safe_load
from munit.utils import atomic_torch_save

TRAINERS = ("munit", "unit")  # The reference's MUNIT_Trainer and UNIT_Trainer, as munit methods.
# munit's loss term names where the reference's differ (its log keys are loss_gen_<name>); one name per kind
# of term across munit's methods, where the reference names MUNIT's explicit cycle term apart from UNIT's.
REFERENCE_TERM_NAMES = {"munit": {"cyc_x_a": "cycrecon_x_a", "cyc_x_b": "cycrecon_x_b"}, "unit": {}}
STALE_NORM_STATS = re.compile(r"\.norm\.(running_mean|running_var|num_batches_tracked)$")
NUMBERED = re.compile(r"(gen|dis)_(\d{8})\.pt$")


def read_reference_file(path: str | Path, kind: str) -> dict:
    """A reference checkpoint: {'a': ..., 'b': ...} for gen/dis files, {'gen': ..., 'dis': ...} for optimizer.pt."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    state = safe_load(path)
    keys = ("gen", "dis") if kind == "optimizer" else ("a", "b")
    if not isinstance(state, dict) or not all(k in state for k in keys):
        found = sorted(state)[:4] if isinstance(state, dict) else type(state).__name__
        hint = " (this looks like optimizer.pt)" if isinstance(state, dict) and "gen" in state else ""
        raise CheckpointError(f"{path}: expected a NVlabs/MUNIT {kind} checkpoint with keys {keys}, "
                              f"found {found}{hint}")
    return state


def convert_state(state: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """Reference state dict -> this module's: drop stale norm statistics the module does not have (PyTorch
    0.3 checkpoints), fill unused AdaIN buffers the file lacks. Other differences are left for the loader
    to report."""
    own = module.state_dict()
    converted = {k: v for k, v in state.items() if k in own or not STALE_NORM_STATS.search(k)}
    for key, value in own.items():
        if key not in converted and STALE_NORM_STATS.search(key):
            converted[key] = value
    return converted


def iteration_of(path: Path) -> int:
    match = NUMBERED.search(Path(path).name)
    return int(match.group(2)) if match else 0


def from_reference(gen_path: str | Path, config_path: str | Path, device: torch.device | str = "cpu",
                   dis_path: str | Path | None = None, method: str | None = None) -> Model:
    """Load a NVlabs/MUNIT generator checkpoint (e.g. `gen_01000000.pt`) with its YAML config.

    `method` is "munit" (the default, the reference's MUNIT_Trainer) or "unit" (its UNIT_Trainer).
    Returns a `munit.inference.Model`; `model.nets["gen_a"]` and `["gen_b"]` have the reference's
    `encode` and `decode`: MUNIT `encode(x) -> (content, style)`, `decode(content, style) -> x`; UNIT
    `encode(x) -> (hidden, noise)`, `decode(hidden) -> x`; images (N, C, H, W) in [-1, 1].
    """
    overrides = [f"method={method}"] if method else []
    cfg = load_config(config_path, overrides)
    template = build_method(cfg).build_networks()
    states = _pair(template, "gen", read_reference_file(gen_path, "generator"))
    if dis_path is not None:
        states |= _pair(template, "dis", read_reference_file(dis_path, "discriminator"))
    return build_model(cfg, states, Path(gen_path), iteration_of(Path(gen_path)), device)


def _pair(template: nn.ModuleDict, prefix: str, state: dict) -> dict[str, dict]:
    """{"<prefix>_a": ..., "<prefix>_b": ...}: a reference file's two state dicts, converted for munit's networks."""
    return {f"{prefix}_{d}": convert_state(state[d], template[f"{prefix}_{d}"]) for d in "ab"}


def latest_reference_files(folder: str | Path) -> tuple[Path, Path, Path | None]:
    """The newest gen_*.pt and dis_*.pt of a reference checkpoint folder (as its resume() picks them)
    and its optimizer.pt, if present."""
    folder = Path(folder)
    gens = sorted(p for p in folder.glob("gen_*.pt") if NUMBERED.search(p.name))
    if not gens:
        raise CheckpointError(f"{folder}: no NVlabs/MUNIT gen_XXXXXXXX.pt checkpoint found")
    dis = folder / gens[-1].name.replace("gen_", "dis_")
    if not dis.is_file():
        raise CheckpointError(f"{dis}: missing (needed beside {gens[-1].name} to resume training)")
    optimizer = folder / "optimizer.pt"
    return gens[-1], dis, optimizer if optimizer.is_file() else None


def reference_state(folder: str | Path, cfg: Config) -> tuple[dict, Path]:
    """A reference checkpoint folder as the start of a munit run: a state in munit's checkpoint layout
    (method, networks, optimizers when optimizer.pt is there, iteration) that `Trainer.load_state` reads,
    and the file it comes from."""
    gen, dis, optimizer = latest_reference_files(folder)
    template = build_method(cfg).build_networks()
    state = {"method": cfg.method, "iteration": iteration_of(gen),
             "nets": _pair(template, "gen", read_reference_file(gen, "generator"))
             | _pair(template, "dis", read_reference_file(dis, "discriminator"))}
    if optimizer is not None:
        state["optimizers"] = read_reference_file(optimizer, "optimizer")
    return state, Path(folder)


def export_reference(run: str | Path, output: str | Path) -> list[Path]:
    """Write a munit run's latest checkpoint in the reference layout: gen_<it>.pt, dis_<it>.pt, optimizer.pt."""
    file = resolve_checkpoint(run)
    state = load_checkpoint(file)
    nets = state["nets"]
    if not {"gen_a", "gen_b", "dis_a", "dis_b"} <= nets.keys():
        raise CheckpointError(f"{file}: method {state.get('method')!r} has no NVlabs/MUNIT layout")
    output = Path(output)
    it = int(state["iteration"])
    files = {
        output / f"gen_{it:08d}.pt": {"a": nets["gen_a"], "b": nets["gen_b"]},
        output / f"dis_{it:08d}.pt": {"a": nets["dis_a"], "b": nets["dis_b"]},
        output / "optimizer.pt": state["optimizers"],
    }
    for path, content in files.items():
        atomic_torch_save(content, path)
    return list(files)
