"""Tiled translation at an image's own size (munit.tiling)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from munit.errors import UsageError
from munit.tiling import tile_starts, translate_tiled


def image(height: int, width: int, channels: int = 3) -> torch.Tensor:
    return torch.rand(1, channels, height, width, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("height, width", [(100, 130), (33, 17), (9, 200), (64, 64)])
def test_a_pixelwise_translation_is_the_same_in_tiles(height, width):
    """Blending weights sum to one everywhere, padding is cropped away, every pixel is covered."""
    x = image(height, width)
    tiles = []

    def translate(t):
        assert t.shape[2] % 4 == 0 and t.shape[3] % 4 == 0 and min(t.shape[2:]) >= 16
        tiles.append(t.shape)
        return torch.tanh(2 * t).flip(1)  # Output channels of its own: reversed.

    y = translate_tiled(translate, x, multiple=4, tile=32, overlap=8)
    assert y.shape == x.shape
    torch.testing.assert_close(y, torch.tanh(2 * x).flip(1), rtol=1e-6, atol=1e-6)
    assert all(max(shape[2:]) <= 32 for shape in tiles)
    assert len(tiles) > 1 or max(height, width) <= 32


def test_overlap_blends_tiles_that_disagree_into_a_ramp():
    """Each tile adds its own offset (a tile-wise tone shift, as per-tile normalisation gives): across a
    seam the blended output moves gradually, never by the whole jump from one pixel to the next."""
    calls = iter(range(100))
    x = torch.zeros(1, 1, 16, 48)
    y = translate_tiled(lambda t: t + next(calls), x, multiple=4, tile=32, overlap=16)  # Tiles at 0 and 16.
    row = y[0, 0, 0]
    assert row[0] == 0 and row[-1] == 1  # Each side keeps its own tile's values,
    steps = row.diff()
    assert steps.min() >= 0 and steps.max() <= 1 / 16 + 1e-6  # and the overlap ramps between them.


def test_a_convolution_in_tiles_differs_only_near_the_seams():
    weight = torch.randn(3, 3, 5, 5, generator=torch.Generator().manual_seed(1)) / 25
    x = image(96, 96)
    whole = F.conv2d(x, weight, padding=2)
    tiled = translate_tiled(lambda t: F.conv2d(t, weight, padding=2), x, multiple=4, tile=48, overlap=16)
    starts = tile_starts(96, 48, 16)
    assert starts == [0, 32, 48]
    far = torch.ones(96, dtype=torch.bool)
    for s in starts:  # Within 2 px (the kernel's reach) of a tile edge, values differ.
        for edge in (s, s + 48):
            far[max(edge - 2, 0):edge + 2] = False
    far[:2], far[-2:] = True, True  # The image's own border is padded the same way whole and tiled.
    inner = far[:, None] & far[None, :]
    torch.testing.assert_close(tiled[0, :, inner], whole[0, :, inner], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tile, overlap, match", [(30, 8, "multiple of 4"), (16, 2, "at least 32"),
                                                  (32, 17, "half the tile"), (32, -1, "between 0")])
def test_bad_tiling_is_refused(tile, overlap, match):
    with pytest.raises(UsageError, match=match):
        translate_tiled(lambda t: t, image(40, 40), multiple=4, tile=tile, overlap=overlap)


def test_the_api_refuses_an_image_beyond_the_pixel_limit_before_any_work():
    from munit.api import Translator
    from munit.inference import build_model
    from munit.methods import METHODS

    from helpers import tiny_config

    cfg = tiny_config()
    nets = METHODS["munit"](cfg).build_networks()
    translator = Translator(build_model(cfg, {n: nets[n].state_dict() for n in nets}, "tiny", 0))
    huge = torch.zeros(1, 1, 1).expand(3, 1, 64_000_001)  # A view of one value: nothing allocated.
    with pytest.raises(UsageError, match="64,000,000"):
        translator.translate_full_size(huge, "a2b")
    y = translator.translate_full_size(torch.zeros(3, 40, 70), "a2b", seed=0, tile=32, overlap=8)
    assert y.shape == (3, 40, 70)


def test_tiles_start_on_the_networks_grid_and_overlap_defaults_to_a_quarter():
    assert tile_starts(200, 64, 20, 8) == [0, 40, 80, 120, 136]  # Stride 44 rounded down to 40; then the end.
    assert all(s % 8 == 0 for s in tile_starts(1000, 128, 50, 16))
    calls = []
    translate_tiled(lambda t: calls.append(t.shape) or t, image(64, 300), multiple=4, tile=64)  # Overlap 16.
    assert len(calls) == len(tile_starts(300, 64, 16, 4)) == 6
