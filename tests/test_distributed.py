"""Data-parallel training: two torchrun processes (gloo, CPU) take the step one process takes on the
combined batch, and only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from munit.cli import main
from munit.data import InfiniteBatches, build_split
from munit.methods import METHODS, load_config
from munit.training.checkpoint import load_checkpoint
from munit.training.distributed import step_seed
from munit.training.loop import Trainer

from helpers import ROOT, tiny_raw

STEPS = 3
# Exact mode: the single-process replay below passes the style codes in the order it draws them.
TINY = tiny_raw(builtin_train_size=16, builtin_test_size=4, max_iter=STEPS, snapshot_save_iter=STEPS,
                image_save_iter=1, image_display_iter=1, keep_last=3, train_mode="exact")


def torchrun(args: list[str], cwd, module: str | None = "munit.cli") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           *(["-m", module] if module else []), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def combined_batch(cfg, domain: str, index: int, iteration: int) -> torch.Tensor:
    """What ranks 0 and 1 see at `iteration`, concatenated."""
    data = build_split(cfg, "train")[domain]
    slices = [next(iter(InfiniteBatches(len(data), cfg.batch_size, seed=cfg.seed * 2 + index, start=iteration,
                                        rank=r, world=2))) for r in (0, 1)]
    return torch.stack([data[item] for part in slices for item in part])


@pytest.mark.slow
def test_two_processes_take_the_steps_of_one_on_the_combined_batches(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    run = tmp_path / "run"
    result = torchrun(["train", "--config", str(config), "--output", str(run), "--no-progress"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    distributed = load_checkpoint(run / "checkpoints" / f"ckpt_{STEPS:08d}.pt")

    cfg = load_config(config)
    trainer = Trainer(cfg, torch.device("cpu"))
    for iteration in range(STEPS):
        draws = [[], [], [], []]
        for rank in (0, 1):  # Each rank's style codes in the order exact mode draws them: D's s_a, s_b, then G's.
            torch.manual_seed(step_seed(cfg.seed, rank, iteration))
            for codes in draws:
                codes.append(torch.randn(cfg.batch_size, cfg.gen.style_dim, 1, 1))
        dis_draws, gen_draws = ({"s_a": torch.cat(draws[i]), "s_b": torch.cat(draws[i + 1])} for i in (0, 2))
        trainer.step(combined_batch(cfg, "a", 0, iteration), combined_batch(cfg, "b", 1, iteration), dis_draws,
                     gen_draws)

    for name, module in trainer.nets.items():
        for key, param in module.named_parameters():
            got = distributed["nets"][name][key]
            # Adam moves each weight by about lr * sign(grad) in its first steps: where the gradient is
            # rounding noise (a bias right before instance norm, which cancels it), only that bound holds.
            noise = param.grad.abs() < 1e-6
            torch.testing.assert_close(got[~noise], param.detach()[~noise], rtol=1e-5, atol=1e-6, msg=key)
            assert torch.all((got[noise] - param.detach()[noise]).abs() <= 2.02 * STEPS * cfg.lr), key

    # Only rank 0 wrote: one log line per iteration, one event file, one checkpoint.
    assert len((run / "log.jsonl").read_text().splitlines()) == STEPS
    assert len(list((run / "tensorboard").iterdir())) == 1
    assert [p.name for p in (run / "checkpoints").glob("*.pt")] == [f"ckpt_{STEPS:08d}.pt"]
    assert result.stdout.count("done:") == 1


@pytest.mark.slow
def test_resume_and_nproc_shortcut(tmp_path, monkeypatch):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "max_iter": 2}))
    run = tmp_path / "run"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    assert main(["train", "--config", str(config), "--output", str(run), "--nproc", "2", "--no-progress"]) == 0
    result = torchrun(["train", "--config", str(config), "--output", str(run), "--resume", "--no-progress",
                       "--set", "max_iter=3"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [int(line.split(",")[0].split(":")[1]) for line in (run / "log.jsonl").read_text().splitlines()] == [1, 2, 3]


@pytest.mark.slow
def test_every_method_trains_data_parallel_through_ddp(tmp_path):
    """Each process steps on different images; after the step the processes hold the same weights, which
    they only can when DDP averaged every gradient (a parameter without one in a step would hang it)."""
    result = torchrun([str(ROOT / "tests" / "ddp_every_method.py"), str(tmp_path)], tmp_path, module=None)
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):
        results = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert set(results) == {f"{m}/{mode}" for m in METHODS for mode in ("fast", "exact", "fast+checkpointed")}
        for key, value in results.items():
            assert value["moved"] and value["from_rank0"] == 0.0, (rank, key, value)
