"""Translating an image at its own size, larger than the networks were trained on, in bounded memory:
overlapping tiles, each translated with the same style code, blended where they overlap.

Memory is that of one tile's translation on the networks' device plus full-size float maps in CPU memory (the
input, the weighted sum of outputs and the weights: 28 bytes a pixel for RGB, 40 when the input is padded),
whatever the image's size. The tiles' instance and layer normalisations see their own tile only, so a tile's
tone can differ slightly from the whole image's; linear blending over the overlap hides the seams that this
would leave (benchmarks/large_image.py measures both).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from munit.errors import UsageError

DEFAULT_TILE = 512


def translate_tiled(translate: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, multiple: int,
                    tile: int = DEFAULT_TILE, overlap: int | None = None,
                    device: torch.device | None = None) -> torch.Tensor:
    """`translate` applied to x (1, C, H, W) in [-1, 1] of any size, tile by tile: tiles of `tile` px (fewer
    where the image is smaller) that overlap by at least `overlap` px (default a quarter of the tile), each
    blended with weights that ramp linearly across the overlap. Sides are padded (by reflection) to
    multiples of `multiple` for the networks and the result cropped back; tiles start at multiples of it, so
    each sees the networks' downsampling grid as the whole image does. Each tile is translated on `device`
    (default: x's), the result assembled where x is. Returns (1, C_out, H, W)."""
    overlap = check_tiling(tile, overlap, multiple)
    if x.dim() != 4 or x.shape[0] != 1:
        raise UsageError(f"tiled translation takes one image (1, C, H, W), got shape {tuple(x.shape)}")
    height, width = x.shape[2:]
    padded = _pad_to_multiple(x, multiple, min_tile(multiple))
    full_h, full_w = padded.shape[2:]
    tile_h, tile_w = min(tile, full_h), min(tile, full_w)
    out = weights = None
    for top in tile_starts(full_h, tile_h, overlap, multiple):
        for left in tile_starts(full_w, tile_w, overlap, multiple):
            piece = padded[:, :, top:top + tile_h, left:left + tile_w]
            y = translate(piece if device is None else piece.to(device)).to(x.device)
            if out is None:
                out = y.new_zeros(1, y.shape[1], full_h, full_w)
                weights = y.new_zeros(1, 1, full_h, full_w)
            window = (_ramp(tile_h, overlap, top > 0, top + tile_h < full_h, y)[:, None]
                      * _ramp(tile_w, overlap, left > 0, left + tile_w < full_w, y)[None, :])
            out[:, :, top:top + tile_h, left:left + tile_w] += y * window
            weights[:, :, top:top + tile_h, left:left + tile_w] += window
    return out.div_(weights)[:, :, :height, :width]


def min_tile(multiple: int) -> int:
    """The smallest tile side: 32 px, and twice the size multiple (a U-Net-like net that halves its input
    for a global branch, pix2pixHD's, still reaches 1 px at its bottleneck)."""
    return max(32, 2 * multiple)


def check_tiling(tile: int, overlap: int | None, multiple: int) -> int:
    """UsageError for a tile or overlap the networks cannot take; returns the overlap (default: a quarter
    of the tile)."""
    overlap = tile // 4 if overlap is None and isinstance(tile, int) else overlap
    smallest = min_tile(multiple)
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < smallest or tile % multiple:
        raise UsageError(f"tile must be a multiple of {multiple} px (the networks' size multiple) and at least "
                         f"{smallest}, got {tile!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= tile // 2:
        raise UsageError(f"overlap must be between 0 and half the tile ({tile // 2} px), got {overlap!r}")
    return overlap


def tile_starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Offsets of tiles of `tile` px over `length` px: at most `tile - overlap` apart, at multiples of
    `multiple` (length and tile being multiples of it); the last ends at `length`."""
    if tile >= length:
        return [0]
    stride = max(multiple, (tile - overlap) // multiple * multiple)
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


def _pad_to_multiple(x: torch.Tensor, multiple: int, smallest: int) -> torch.Tensor:
    height, width = x.shape[2:]
    pad_h, pad_w = max(-height % multiple, smallest - height), max(-width % multiple, smallest - width)
    pad_h, pad_w = pad_h + -(height + pad_h) % multiple, pad_w + -(width + pad_w) % multiple
    if not pad_h and not pad_w:
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
