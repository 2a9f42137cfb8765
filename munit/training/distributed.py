"""Data-parallel training over processes started by torchrun: one process per device, any number of
machines (gloo on CPU, NCCL on CUDA).

Each process trains on its own slice of a global batch of batch_size x world_size images. What each
optimiser trains is wrapped in PyTorch's DistributedDataParallel (`data_parallel`), whose forward computes
that optimiser's loss; its reducer averages the gradients over processes in buckets while the backward
pass runs, so every process takes the same optimiser step: the step one process would take on the whole
global batch.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from munit.utils import pick_device


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes logs, grids and checkpoints."""
        return self.rank == 0


SINGLE = World()  # One process, no process group.


def init_world(device: str | None = None) -> tuple[World, torch.device]:
    """The process group torchrun describes in the environment (WORLD_SIZE, RANK, LOCAL_RANK), if any."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(), pick_device(device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    chosen = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    return World(dist.get_rank(), dist.get_world_size()), chosen


class Objective(nn.Module):
    """The networks one optimiser trains, as the module DistributedDataParallel wraps: `forward(loss_fn)`
    returns `loss_fn()`, the optimiser's loss and its logged terms. The loss also runs other networks
    (frozen, or on detached inputs) and parts of the graph built before the call (the generator pass that
    the discriminator step shares in fast mode); the reducer averages the gradients of these networks
    whenever the backward after the call produces them."""

    def __init__(self, nets: dict[str, nn.Module]):
        super().__init__()
        self.nets = nn.ModuleDict(nets)

    def forward(self, loss_fn: Callable[[], tuple[torch.Tensor, dict]]) -> tuple[torch.Tensor, dict]:
        return loss_fn()


def close_world(world: World) -> None:
    """Leave the process group once every process is done. The DDP wrappers hold the group's communication
    threads: freed at interpreter exit instead, in no set order, they can abort the process (a CI run died
    with "terminate called without an active exception" after its work was done)."""
    if world.size > 1 and dist.is_initialized():
        gc.collect()  # Free wrappers that only reference cycles still hold.
        dist.barrier()
        dist.destroy_process_group()


def data_parallel(nets: dict[str, nn.Module], world: World, device: torch.device
                  ) -> Callable[[Callable], tuple[torch.Tensor, dict]]:
    """Run a loss function so that the backward after it averages the gradients of `nets` over processes:
    through DistributedDataParallel in a process group, directly otherwise. Not every parameter gets a
    gradient in every step (a method's terms can be switched off), hence `find_unused_parameters`;
    buffers stay each process's own, as they were before DDP."""
    if world.size == 1:
        return lambda loss_fn: loss_fn()
    return DistributedDataParallel(Objective(nets), device_ids=[device.index] if device.type == "cuda" else None,
                                   broadcast_buffers=False, find_unused_parameters=True)


def broadcast_state(module: torch.nn.Module, world: World) -> None:
    """Give every process the main process's weights and buffers."""
    if world.size > 1:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, 0)


def step_seed(seed: int, rank: int, iteration: int) -> int:
    """Seed of one process's random draws at one iteration: distinct per process, and a resumed run
    draws what an uninterrupted one would."""
    return (seed * 1_000_003 + rank * 7_919 + iteration * 104_729) % 2 ** 63
