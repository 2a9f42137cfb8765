"""Run by tests/test_distributed.py under torchrun (2 processes, gloo): one training step of every
registered method in both modes (and in fast mode with activation checkpointing), each process on batches of
its own; writes, per method and mode, how far this process's parameters are from rank 0's after the step (0
when DDP averaged the gradients) and whether the step changed them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from munit.methods import METHODS
from munit.training.distributed import broadcast_state, close_world, init_world
from munit.training.loop import Trainer

from helpers import step_inputs, tiny_config


def main(out: Path) -> None:
    world, device = init_world("cpu")
    results = {}
    for name in METHODS:
        for mode in ("fast", "exact", "fast+checkpointed"):  # The last recomputes every block in backward.
            cfg = tiny_config(method=name, train_mode=mode.split("+")[0],
                              checkpoint_activations="all" if mode.endswith("checkpointed") else "none")
            trainer = Trainer(cfg, device, world)
            broadcast_state(trainer.nets, world)
            names = [*trainer.method.generator_names, *trainer.method.discriminator_names]
            before = [p.detach().clone() for n in names for p in trainer.nets[n].parameters()]
            trainer.step(*step_inputs(cfg, 10 + world.rank, 20 + world.rank))  # Different data per rank.
            after = [p.detach().clone() for n in names for p in trainer.nets[n].parameters()]
            flat = torch.cat([p.flatten() for p in after])
            reference = flat.clone()
            dist.broadcast(reference, 0)
            moved = any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
            results[f"{name}/{mode}"] = {"from_rank0": (flat - reference).abs().max().item(), "moved": moved}
            del trainer  # Its DDP wrappers hold the group's threads; see close_world.
    (out / f"rank{world.rank}.json").write_text(json.dumps(results))
    close_world(world)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
