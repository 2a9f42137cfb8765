"""Data: folder and list layouts, channel conversion, bad files, built-in data, deterministic batches."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from munit.data import InfiniteBatches, build_dataset
from munit.data.builtin import SHAPES, ShapesDataset, draw_factors, render
from munit.data.images import DataError, find_images, open_image

from helpers import tiny_config, write_image


def make_folder(root: Path, count: int = 3, mode: str = "RGB") -> Path:
    for split in ("train", "test"):
        for d in "AB":
            for i in range(count):
                write_image(root / f"{split}{d}" / ("sub" if i % 2 else "") / f"{i}.png", mode, seed=i)
    return root


def test_folder_layout_is_found_recursively(tmp_path):
    make_folder(tmp_path, count=3)
    (tmp_path / "trainA" / "notes.txt").write_text("not an image")
    ds = build_dataset(tiny_config(data_root=str(tmp_path)), "a", "train")
    assert len(ds) == 3
    x = ds[0]
    assert x.shape == (3, 32, 32) and x.min() >= -1 and x.max() <= 1


def test_list_layout(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "list.txt").write_text("0.png\nsub/1.png\n\n")
    cfg = tiny_config(data_root=None, data_folder_train_a=str(tmp_path / "trainA"),
                      data_list_train_a=str(tmp_path / "list.txt"))
    assert len(build_dataset(cfg, "a", "train")) == 2
    with pytest.raises(DataError, match="data_folder_train_b and data_list_train_b"):
        build_dataset(cfg, "b", "train")


def test_missing_and_empty_folders_name_the_path(tmp_path):
    with pytest.raises(DataError, match=r"trainA: image folder not found"):
        build_dataset(tiny_config(data_root=str(tmp_path)), "a", "train")
    (tmp_path / "trainA").mkdir()
    with pytest.raises(DataError, match=r"trainA: no images found"):
        find_images(tmp_path / "trainA")


def test_unreadable_image_names_the_file_and_can_be_skipped(tmp_path):
    make_folder(tmp_path, count=2)
    bad = tmp_path / "trainA" / "0.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = build_dataset(tiny_config(data_root=str(tmp_path)), "a", "train")
    with pytest.raises(DataError, match=r"0.png: cannot read image"):
        ds[0]
    ds = build_dataset(tiny_config(data_root=str(tmp_path), skip_bad_images=True), "a", "train")
    with pytest.warns(UserWarning, match="skipping unreadable image"):
        x = ds[0]
    assert x.shape == (3, 32, 32)


@pytest.mark.parametrize("mode, channels", [("L", 1), ("RGB", 1), ("RGBA", 3), ("L", 4), ("RGB", 4)])
def test_channel_conversion(tmp_path, mode, channels):
    path = write_image(tmp_path / "x.png", mode)
    assert np.asarray(open_image(path, channels)).reshape(36, 40, -1).shape[2] == channels


def test_sixteen_bit_and_palette_images(tmp_path):
    arr = (np.linspace(0, 65535, 40 * 36).reshape(36, 40)).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    gray = np.asarray(open_image(tmp_path / "deep.png", 1))
    assert gray.min() == 0 and gray.max() == 255  # Scaled, not clipped.
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).convert("P").save(tmp_path / "pal.png")
    assert np.asarray(open_image(tmp_path / "pal.png", 3)).shape == (8, 8, 3)


def test_training_transform_flips_and_crops_deterministically(tmp_path):
    write_image(tmp_path / "trainA" / "0.png", size=(64, 48))
    write_image(tmp_path / "testA" / "0.png", size=(64, 48))
    cfg = tiny_config(data_root=str(tmp_path), new_size=40)
    test = build_dataset(cfg, "a", "test")
    assert torch.equal(test[0], test[0]) and test[0].shape == (3, 32, 32)  # Centre crop, no flip.
    ds = build_dataset(cfg, "a", "train")
    a, b = ds[(0, 1)], ds[(0, 1)]
    assert torch.equal(a, b)
    crops = {tuple(ds[(0, s)].flatten()[:8].tolist()) for s in range(12)}
    assert len(crops) > 1  # Different seeds, different crops/flips.


def test_builtin_data_is_deterministic_and_has_factors():
    cfg = tiny_config()
    a = build_dataset(cfg, "a", "test")
    b = build_dataset(cfg, "b", "test")
    assert isinstance(a, ShapesDataset) and len(a) == 8
    assert torch.equal(a[3], build_dataset(cfg, "a", "test")[3])
    f = b.factors(3)
    assert 0 <= f.shape < len(SHAPES) and 0.2 <= f.radius <= 0.3
    assert f == draw_factors(cfg.seed, "test", "b", 3)
    assert not torch.equal(build_dataset(tiny_config(seed=1), "a", "test")[3], a[3])


def test_builtin_domains_look_as_described():
    f = draw_factors(0, "train", "a", 0)
    line, filled = render(f, "a", 64), render(f, "b", 64)
    assert line.shape == filled.shape == (64, 64, 3)
    assert (line.mean(2) < 128).mean() < 0.15  # Thin dark strokes on white.
    assert np.median(filled) < 60  # Dark background.
    inside = np.unravel_index(np.argmin(np.abs(np.indices((64, 64)) - 32).sum(0)), (64, 64))
    assert filled[inside].max() - filled[inside].min() > 40  # A saturated colour at the centre.


def test_hue_modes_are_multimodal():
    hues = [draw_factors(0, "train", "b", i).hue_mode for i in range(200)]
    counts = np.bincount(hues)
    assert len(counts) == 5 and counts.min() > 20


def test_infinite_batches_resume_where_they_left_off():
    full = list(itertools.islice(iter(InfiniteBatches(10, 3, seed=4)), 8))
    resumed = list(itertools.islice(iter(InfiniteBatches(10, 3, seed=4, start=5)), 3))
    assert resumed == full[5:]
    epoch = [i for batch in full[:3] for i, _ in batch]
    assert len(set(epoch)) == 9  # No repeats within an epoch (drop_last leaves one out).
    with pytest.raises(DataError, match="fewer than batch_size"):
        InfiniteBatches(2, 3, seed=0)


def test_paired_aligned_layout_splits_each_image(tmp_path):
    from munit.data import build_split

    for split in ("train", "test"):
        for i in range(3):
            left = np.full((32, 32, 3), 10 * i, np.uint8)
            right = np.full((32, 32, 3), 200, np.uint8)
            Image.fromarray(np.concatenate([left, right], 1)).save(tmp_path / f"{split}_{i}.png")
        (tmp_path / split).mkdir()
        for i in range(3):
            (tmp_path / f"{split}_{i}.png").rename(tmp_path / split / f"{i}.png")
    data = build_split(tiny_config(data_root=str(tmp_path)), "train", paired=True)
    a, b = data["a"][(2, 5)], data["b"][(2, 5)]
    assert a.shape == b.shape == (3, 32, 32)
    assert torch.allclose(a, torch.full_like(a, 20 / 127.5 - 1))
    assert torch.allclose(b, torch.full_like(b, 200 / 127.5 - 1))


def test_paired_folders_need_matching_names(tmp_path):
    from munit.data import build_split

    for d in "AB":
        for name in ("x.png", "y.png"):
            write_image(tmp_path / f"train{d}" / name)
    data = build_split(tiny_config(data_root=str(tmp_path)), "train", paired=True)
    assert len(data["a"]) == 2
    (tmp_path / "trainB" / "y.png").rename(tmp_path / "trainB" / "z.png")
    with pytest.raises(DataError, match=r"y.png has no partner of the same name in B"):
        build_split(tiny_config(data_root=str(tmp_path)), "train", paired=True)


def test_builtin_paired_mode_shares_content_not_style():
    a = draw_factors(0, "train", "a", 7)
    b = draw_factors(0, "train", "b", 7, paired=True)
    unpaired = draw_factors(0, "train", "b", 7)
    assert (a.shape, a.cx, a.cy, a.radius, a.angle) == (b.shape, b.cx, b.cy, b.radius, b.angle)
    assert (b.hue, b.light_angle) == (unpaired.hue, unpaired.light_angle)
