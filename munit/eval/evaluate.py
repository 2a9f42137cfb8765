"""`munit evaluate`: run a named protocol on a trained model and record the result as one JSON line."""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from munit.card import run_folder
from munit.config import BUILTIN_PREFIX
from munit.data import build_dataset, build_split
from munit.data.domains import build_domains
from munit.errors import UsageError
from munit.eval.protocols import EvalContext, protocol
from munit.inference import load_model
from munit.utils import atomic_write_text


def evaluate(checkpoint: str | Path, protocol_name: str, data: str | None = None, direction: str | None = None,
             out: str | Path | None = None, seed: int = 0, classifier: str | None = None,
             weights: str | None = None, download: bool = True, device: torch.device | str = "cpu",
             progress: bool = True) -> dict:
    """Evaluate the model of `checkpoint` (run folder or file) with protocol `protocol_name` on the test
    split of `data` (a data_root: folder or builtin:NAME; default: the run's own data) in `direction`
    (default: the method's first). A multi-domain model is measured on every ordered pair of distinct
    domains (into the target domain `direction` only, when given), the metrics averaged over the pairs as
    StarGAN v2 reports them, each pair's under "pairs". Returns the record and, with `out`, appends it to
    that JSONL file."""
    chosen = protocol(protocol_name)
    model = load_model(checkpoint, device)
    method = model.method
    cfg = dataclasses.replace(model.cfg, data_root=data, skip_bad_images=False) if data else model.cfg
    options = dict(seed=seed, progress=progress, classifier=classifier, weights=weights, download=download,
                   builtin=bool(cfg.data_root and cfg.data_root.startswith(BUILTIN_PREFIX)))
    start = time.perf_counter()
    if method.multi_domain:
        result = _every_pair(chosen, model, cfg, direction, options)
        direction = direction or "all pairs"
    else:
        direction = method.direction(direction or method.directions[0])
        split = build_split(cfg, "test", method.paired)
        target_train = None
        if protocol_name == "fid-starganv2":
            target_train = build_dataset(cfg, direction.target, "train", method.paired)
            target_train.train = False  # Real images as they are: no random crops or flips.
        result = chosen.run(EvalContext(model, direction, split[direction.source], split[direction.target],
                                        target_train, **options))
    record = {"protocol": chosen.name, "metrics": result.pop("metrics"), "direction": direction,
              "method": method.name, "checkpoint": str(model.source), "iteration": model.iteration,
              "data": cfg.data_root, "seed": seed, **result, "seconds": round(time.perf_counter() - start, 1),
              "munit_version": _version(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if out is not None:
        append_jsonl(Path(out), record)
    run = run_folder(model.source)
    if run is not None:  # The run keeps its evaluations, for its model card.
        try:
            append_jsonl(run / "evaluations.jsonl", record)
        except OSError as e:
            warnings.warn(f"{run}: cannot keep the record in evaluations.jsonl ({e.strerror or e})", stacklevel=2)
    return record


def _every_pair(chosen, model, cfg, target: str | None, options: dict) -> dict:
    """The protocol on each (source, target) pair of domains, target given or each; metrics averaged."""
    method = model.method
    names = list(method.directions)
    targets = [method.direction(target).target] if target is not None else names
    if cfg.attributes_file is not None:
        raise UsageError(f"{model.source}: a model of binary attributes (attributes_file) has no domains to "
                         "translate between; benchmarks/fader_attributes.py measures its sliders")
    test = build_domains(cfg, "test")
    if chosen.name == "builtin-domains":
        return chosen.run(EvalContext(model, method.direction(targets[0]), test.parts[0], test.parts[0],
                                      domains=test, domain_names=names, targets_only=targets, **options))
    train = build_domains(cfg, "train") if chosen.name == "fid-starganv2" else None
    pairs = {}
    for t in targets:
        target_train = None
        if train is not None:
            target_train = train.parts[names.index(t)]
            target_train.train = False  # Real images as they are: no random crops or flips.
        for s in names:
            if s != t:
                ctx = EvalContext(model, method.direction(t), test.parts[names.index(s)], test.parts[names.index(t)],
                                  target_train, **options)
                pairs[f"{s}->{t}"] = chosen.run(ctx)
    first = next(iter(pairs.values()))
    metrics = {k: float(sum(p["metrics"][k] for p in pairs.values()) / len(pairs)) for k in first["metrics"]}
    facts = {k: v for k, v in first.items() if k != "metrics"}
    return {"metrics": metrics, **facts, "pairs": {k: p["metrics"] for k, p in pairs.items()}}


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
