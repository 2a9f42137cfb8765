"""Activation checkpointing: a network's blocks keep only their inputs for backward and compute their
activations again there (torch.utils.checkpoint), so that training memory falls with image size.

A block is a module that owns a convolution among its direct children (a conv block, a residual block, a
SPADE block, a U-Net level), taken outermost first; the network itself is never one, nor a flat Sequential
that is a whole network, and a bare convolution is not worth one (its input is what a checkpoint keeps). What a
block changes in place when it runs (batch-norm statistics, spectral norm's power-iteration vectors) is
set back to the values its first run saw before it runs again, and restored after, so that an update is
the one the plain network makes, to float rounding.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from munit.nets.blocks import SpectralNorm

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, SpectralNorm)
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def checkpoint_blocks(net: nn.Module) -> list[str]:
    """Recompute the activations of every block of `net` in backward (in place: the state dict and the
    results do not change). Returns the blocks' names."""
    names = []
    for name, block in _blocks(net):
        if not getattr(block, "_recomputes", False):
            block.forward = types.MethodType(_checkpointed_forward, block)
            block._recomputes = True
        names.append(name)
    return names


def _blocks(module: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    for name, child in module.named_children():
        if _is_block(child, parent=module):
            yield prefix + name, child
        elif not isinstance(child, CONVOLUTIONS):
            yield from _blocks(child, f"{prefix}{name}.")


def _is_block(module: nn.Module, parent: nn.Module) -> bool:
    """A module owning a convolution; a container only as one step of another container (e.g. a U-Net's
    levels), and only when none of its own steps is a block."""
    if isinstance(module, CONVOLUTIONS) or not _owns_convolution(module):
        return False
    if isinstance(module, CONTAINERS):
        return isinstance(parent, CONTAINERS) and not any(_is_block(c, module) for c in module.children())
    return True


def _owns_convolution(module: nn.Module) -> bool:
    return any(isinstance(child, CONVOLUTIONS) for child in module.children())


def _checkpointed_forward(self: nn.Module, *args, **kwargs):
    forward = types.MethodType(type(self).forward, self)
    if not torch.is_grad_enabled():  # Nothing would be kept for backward anyway.
        return forward(*args, **kwargs)
    return checkpoint(forward, *args, use_reentrant=False, context_fn=lambda: _same_state(self), **kwargs)


def _same_state(block: nn.Module) -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """(context of the first run, context of the recomputation): every recomputation (one per backward
    through the block) starts from the state the first run started from, and leaves the block's state as it
    found it."""
    tensors = _mutable_state(block)
    if not tensors:
        return contextlib.nullcontext(), contextlib.nullcontext()
    first = _Snapshot(tensors)
    return first, _Recomputation(tensors, first)


class _Snapshot(contextlib.AbstractContextManager):
    """On entering: a copy of `tensors` as they are."""

    def __init__(self, tensors: list[torch.Tensor]):
        self.tensors, self.values = tensors, []

    def __enter__(self):
        self.values = [t.detach().clone() for t in self.tensors]
        return self

    def __exit__(self, *exc) -> None:
        return None


class _Recomputation(contextlib.AbstractContextManager):
    """Inside: `tensors` hold the values of `first`; after: what they held before. Enterable any number of
    times (e.g. a gradient penalty's backward, then the loss's)."""

    def __init__(self, tensors: list[torch.Tensor], first: _Snapshot):
        self.tensors, self.first, self.saved = tensors, first, []

    def __enter__(self):
        self.saved.append([t.detach().clone() for t in self.tensors])
        _assign(self.tensors, self.first.values)
        return self

    def __exit__(self, *exc) -> None:
        _assign(self.tensors, self.saved.pop())


def _mutable_state(block: nn.Module) -> list[torch.Tensor]:
    """Tensors a forward may change in place: buffers, and spectral norm's frozen u and v."""
    vectors = [t for m in block.modules() if isinstance(m, SpectralNorm)
               for t in (m.module.weight_u, m.module.weight_v)]
    return [*block.buffers(), *vectors]


@torch.no_grad()
def _assign(tensors: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    for tensor, value in zip(tensors, values, strict=True):
        tensor.copy_(value)
