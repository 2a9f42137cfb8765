"""`munit evaluate`: run a named protocol on a trained model and record the result as one JSON line."""

from __future__ import annotations

import dataclasses
import json
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from munit.config import BUILTIN_PREFIX
from munit.data import build_dataset, build_split
from munit.eval.protocols import EvalContext, protocol
from munit.inference import load_model
from munit.utils import atomic_write_text


def evaluate(checkpoint: str | Path, protocol_name: str, data: str | None = None, direction: str = "a2b",
             out: str | Path | None = None, seed: int = 0, classifier: str | None = None,
             weights: str | None = None, download: bool = True, device: torch.device | str = "cpu",
             progress: bool = True) -> dict:
    """Evaluate the model of `checkpoint` (run folder or file) with protocol `protocol_name` on the test
    split of `data` (a data_root: folder or builtin:NAME; default: the run's own data). Returns the record
    and, with `out`, appends it to that JSONL file."""
    chosen = protocol(protocol_name)
    model = load_model(checkpoint, device)
    method = model.method
    direction = method.direction(direction)
    cfg = dataclasses.replace(model.cfg, data_root=data, skip_bad_images=False) if data else model.cfg
    split = build_split(cfg, "test", method.paired)
    source, target = direction.source, direction.target
    target_train = None
    if protocol_name == "fid-starganv2":
        target_train = build_dataset(cfg, target, "train", method.paired)
        target_train.train = False  # Real images as they are: no random crops or flips.
    ctx = EvalContext(model, direction, split[source], split[target], target_train, seed=seed,
                      progress=progress, classifier=classifier, weights=weights, download=download,
                      builtin=bool(cfg.data_root and cfg.data_root.startswith(BUILTIN_PREFIX)))
    start = time.perf_counter()
    result = chosen.run(ctx)
    record = {"protocol": chosen.name, "metrics": result.pop("metrics"), "direction": direction,
              "method": method.name, "checkpoint": str(model.source), "iteration": model.iteration,
              "data": cfg.data_root, "seed": seed, **result, "seconds": round(time.perf_counter() - start, 1),
              "munit_version": _version(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if out is not None:
        append_jsonl(Path(out), record)
    return record


def append_jsonl(path: Path, record: dict) -> None:
    """Append one line; the file is rewritten through a temporary file, so a crash leaves the old one."""
    old = path.read_text() if path.is_file() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    atomic_write_text(path, old + json.dumps(record) + "\n")


def _version() -> str:
    try:
        return version("munit")
    except PackageNotFoundError:
        return "unknown"
