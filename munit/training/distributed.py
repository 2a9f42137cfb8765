"""Data-parallel training over processes started by torchrun: one process per device, any number of
machines (gloo on CPU, NCCL on CUDA).

Each process trains on its own slice of a global batch of batch_size x world_size images; after every
backward pass the gradients are averaged over processes (an all-reduce of flattened buckets, as DDP does;
done explicitly because the methods call `encode`/`decode` rather than `forward`, which DDP's hooks
need), so every process takes the same optimiser step: the step that one process would take on the whole
global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from munit.utils import pick_device

BUCKET_BYTES = 25 * 2 ** 20


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


def average_gradients(params: list[torch.Tensor], world: World) -> None:
    """Replace each gradient by its mean over all processes."""
    if world.size == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    bucket: list[torch.Tensor] = []
    size = 0
    for grad in grads:
        bucket.append(grad)
        size += grad.numel() * grad.element_size()
        if size >= BUCKET_BYTES:
            _reduce(bucket, world)
            bucket, size = [], 0
    if bucket:
        _reduce(bucket, world)


def _reduce(bucket: list[torch.Tensor], world: World) -> None:
    flat = _flatten_dense_tensors(bucket)
    dist.all_reduce(flat)
    flat /= world.size
    for grad, reduced in zip(bucket, _unflatten_dense_tensors(flat, bucket), strict=True):
        grad.copy_(reduced)


def broadcast_state(module: torch.nn.Module, world: World) -> None:
    """Give every process the main process's weights and buffers."""
    if world.size > 1:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, 0)


def step_seed(seed: int, rank: int, iteration: int) -> int:
    """Seed of one process's random draws at one iteration: distinct per process, and a resumed run
    draws what an uninterrupted one would."""
    return (seed * 1_000_003 + rank * 7_919 + iteration * 104_729) % 2 ** 63
