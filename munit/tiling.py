"""Translating an image at its own size, larger than the networks were trained on, in bounded memory:
overlapping tiles, each translated with the same style code, blended where they overlap.

Memory is that of one tile's translation plus three full-size float maps (input, weighted sum of outputs and
weights: 28 bytes a pixel for RGB), whatever the image's size. The tiles' instance and layer normalisations
see their own tile only, so a tile's tone can differ slightly from the whole image's; linear blending over
the overlap hides the seams that this would leave (benchmarks/large_image.py measures both).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from munit.errors import UsageError

DEFAULT_TILE = 512
DEFAULT_OVERLAP = 128


def translate_tiled(translate: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, multiple: int,
                    tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP) -> torch.Tensor:
    """`translate` applied to x (1, C, H, W) in [-1, 1] of any size, tile by tile: tiles of `tile` px (fewer
    where the image is smaller) that overlap by `overlap` px, each blended with weights that ramp linearly
    across the overlap. Sides are padded (by reflection) to multiples of `multiple` for the networks and the
    result cropped back. Returns (1, C_out, H, W)."""
    check_tiling(tile, overlap, multiple)
    if x.dim() != 4 or x.shape[0] != 1:
        raise UsageError(f"tiled translation takes one image (1, C, H, W), got shape {tuple(x.shape)}")
    height, width = x.shape[2:]
    padded = _pad_to_multiple(x, multiple)
    full_h, full_w = padded.shape[2:]
    tile_h, tile_w = min(tile, full_h), min(tile, full_w)
    out = weights = None
    for top in tile_starts(full_h, tile_h, overlap):
        for left in tile_starts(full_w, tile_w, overlap):
            y = translate(padded[:, :, top:top + tile_h, left:left + tile_w])
            if out is None:
                out = y.new_zeros(1, y.shape[1], full_h, full_w)
                weights = y.new_zeros(1, 1, full_h, full_w)
            window = (_ramp(tile_h, overlap, top > 0, top + tile_h < full_h, y)[:, None]
                      * _ramp(tile_w, overlap, left > 0, left + tile_w < full_w, y)[None, :])
            out[:, :, top:top + tile_h, left:left + tile_w] += y * window
            weights[:, :, top:top + tile_h, left:left + tile_w] += window
    return (out / weights)[:, :, :height, :width]


def check_tiling(tile: int, overlap: int, multiple: int) -> None:
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < max(16, multiple) or tile % multiple:
        raise UsageError(f"tile must be a multiple of {multiple} px (the networks' size multiple) and at least "
                         f"{max(16, multiple)}, got {tile!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= tile // 2:
        raise UsageError(f"overlap must be between 0 and half the tile ({tile // 2} px), got {overlap!r}")


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Offsets of tiles of `tile` px over `length` px, `tile - overlap` apart; the last ends at `length`."""
    if tile >= length:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def _ramp(n: int, overlap: int, ramp_start: bool, ramp_end: bool, like: torch.Tensor) -> torch.Tensor:
    """Weights of a tile's n pixels along one side: rising over the first `overlap` pixels where a tile
    comes before it, falling over the last where one comes after; positive everywhere."""
    w = torch.ones(n, dtype=like.dtype, device=like.device)
    if overlap:
        ramp = (torch.arange(overlap, dtype=like.dtype, device=like.device) + 0.5) / overlap
        if ramp_start:
            w[:overlap] = torch.minimum(w[:overlap], ramp)
        if ramp_end:
            w[-overlap:] = torch.minimum(w[-overlap:], ramp.flip(0))
    return w


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    height, width = x.shape[2:]
    pad_h, pad_w = max(-height % multiple, 16 - height), max(-width % multiple, 16 - width)
    pad_h, pad_w = pad_h + -(height + pad_h) % multiple, pad_w + -(width + pad_w) % multiple
    if not pad_h and not pad_w:
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
