"""Full-state checkpoints: one file per snapshot, a `latest` pointer, keep-last-N, safe loading."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from munit.errors import UserError
from munit.utils import atomic_torch_save, atomic_write_text

FORMAT = "munit-checkpoint"
VERSION = 1
POINTER = "latest"
REQUIRED = {"iteration": int, "method": str, "config": dict, "nets": dict}  # What every reader of a checkpoint uses.
PATTERN = re.compile(r"ckpt_(\d{8})\.pt$")


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, unreadable or of another model; the message names the file."""


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: Path, state: dict[str, Any], iteration: int, keep_last: int) -> Path:
    """Write `ckpt_<iteration>.pt` atomically, then move the `latest` pointer, then prune old files."""
    folder = checkpoint_dir(run_dir)
    path = folder / f"ckpt_{iteration:08d}.pt"
    atomic_torch_save({"format": FORMAT, "version": VERSION, "iteration": iteration, **state}, path)
    atomic_write_text(folder / POINTER, path.name + "\n")
    if keep_last > 0:
        for old in list_checkpoints(run_dir)[:-keep_last]:
            if old != path:
                old.unlink(missing_ok=True)
    return path


def list_checkpoints(run_dir: Path) -> list[Path]:
    folder = checkpoint_dir(run_dir)
    return sorted(p for p in folder.glob("ckpt_*.pt") if PATTERN.search(p.name)) if folder.is_dir() else []


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The file `latest` points to; the newest complete-looking file if the pointer is missing or stale."""
    pointer = checkpoint_dir(run_dir) / POINTER
    if pointer.is_file():  # A damaged pointer (not text, a stray path) falls back to the newest file.
        name = pointer.read_bytes()[:256].decode("utf-8", errors="replace").strip()
        target = checkpoint_dir(run_dir) / name
        if PATTERN.fullmatch(name) and target.is_file():
            return target
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory (its latest checkpoint)."""
    path = Path(path)
    if path.is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"{path}: run directory has no checkpoint in {checkpoint_dir(path)}")
        return latest
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file or run directory")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a munit checkpoint without executing code (weights_only)."""
    path = Path(path)
    state = safe_load(path, map_location)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a munit checkpoint (no '{FORMAT}' format marker); "
                              "for a NVlabs/MUNIT gen_*.pt file pass its YAML config with --config")
    check_keys(state, REQUIRED, f"{path}: damaged munit checkpoint")
    return state


def check_keys(mapping: dict, kinds: dict[str, type], what: str) -> None:
    """CheckpointError "<what>: '<key>' is missing / a <type>, expected a <type>" for the first key of
    `kinds` that `mapping` lacks or holds with another type (a bool is no int)."""
    for key, kind in kinds.items():
        if not isinstance(mapping.get(key), kind) or isinstance(mapping.get(key), bool):
            found = "missing" if key not in mapping else f"a {type(mapping[key]).__name__}"
            raise CheckpointError(f"{what}: '{key}' is {found}, expected a {kind.__name__}")


MAX_INFLATION = 4  # Unpacked bytes per byte of file: torch.save stores tensors uncompressed (about 1).
MAX_MEMBERS = 100_000


def check_unpacked_size(path: Path) -> None:
    """Refuse a zip-format checkpoint whose members unpack to far more than the file's size (a zip bomb: a
    1.8 MB file of deflated zeros unpacked to 1.9 GB before anything could look at it) or that has more
    members than any network's tensors; read from the zip's directory, without unpacking."""
    try:
        if not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return  # torch.load names what is wrong with it.
    if len(members) > MAX_MEMBERS:
        raise CheckpointError(f"{path}: refused: {len(members)} zip members (a checkpoint holds one per tensor, "
                              f"at most {MAX_MEMBERS})")
    unpacked, size = sum(m.file_size for m in members), max(path.stat().st_size, 1)
    if unpacked > MAX_INFLATION * size + 2 ** 20:
        raise CheckpointError(f"{path}: refused: its zip members unpack to {unpacked / 2 ** 20:.0f} MB, "
                              f"{unpacked / size:.0f} times the file's size (torch.save stores tensors "
                              "uncompressed; this is a compressed archive, or a zip bomb)")


def safe_load(path: Path, map_location: str | torch.device = "cpu"):
    """torch.load without executing code (weights_only), after `check_unpacked_size`; a refused or
    unreadable file names itself."""
    check_unpacked_size(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"(?:unsupported )?GLOBAL ([\w.]+)", str(e), re.IGNORECASE)
        if found:  # A pickle that names code to import: what a malicious or foreign file does.
            raise CheckpointError(f"{path}: refused to load: it holds objects other than tensors and plain data "
                                  f"(it would import {found.group(1)}); munit never unpickles such files") from None
        raise CheckpointError(f"{path}: cannot read checkpoint (not a PyTorch file, or corrupt)") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({e})") from None
    except Exception as e:  # noqa: BLE001 (the unpickler's KeyError, IndexError, ... on bytes that are no pickle)
        raise CheckpointError(f"{path}: cannot read checkpoint (not a PyTorch file, or corrupt: "
                              f"{type(e).__name__})") from None


def tensor_problem(value: Any, expected: torch.Tensor) -> str | None:
    """What is wrong with `value` as the weights `expected` holds, or None: not a tensor, another shape,
    integers or booleans where the network has floats (they load as flat grey images), NaN or infinity
    (black ones)."""
    if not isinstance(value, torch.Tensor):
        return f"is a {type(value).__name__}, expected a tensor"
    if value.shape != expected.shape:
        return f"has shape {tuple(value.shape)}, the config builds {tuple(expected.shape)}"
    if expected.is_floating_point() and not value.is_floating_point():
        return f"holds {str(value.dtype).removeprefix('torch.')} values, expected floating point"
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        return "holds NaN or infinite values"
    return None


def load_networks(nets: torch.nn.ModuleDict, states: dict[str, dict], source: Path) -> None:
    """Load state dicts into `nets` by name, with a message listing every mismatched key or shape."""
    problems = []
    for name, module in nets.items():
        if name not in states:
            problems.append(f"missing network {name!r}")
            continue
        own, theirs = module.state_dict(), states[name]
        if not isinstance(theirs, dict):
            problems.append(f"network {name!r} is a {type(theirs).__name__}, expected a mapping of tensors")
            continue
        for key in own.keys() - theirs.keys():
            problems.append(f"{name}.{key} missing")
        for key in theirs.keys() - own.keys():
            problems.append(f"{name}.{key} unexpected")
        for key in sorted(own.keys() & theirs.keys()):
            problem = tensor_problem(theirs[key], own[key])
            if problem:
                problems.append(f"{name}.{key} {problem}")
    if problems:
        shown = "; ".join(sorted(problems)[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise CheckpointError(f"{source}: checkpoint does not match the configured networks: {shown}")
    for name, module in nets.items():
        module.load_state_dict(states[name])
