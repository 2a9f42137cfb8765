"""Semantic label maps as domain A: reading index/palette PNGs, one-hot encoding, instance boundaries,
alignment with the paired photo, the built-in label maps, and label-to-photo training and translation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from munit.api import Translator
from munit.cli import main
from munit.config import ConfigError
from munit.data import PairedDataset, build_split
from munit.data.builtin import LABEL_CLASSES, SHAPES, draw_factors
from munit.data.images import DataError
from munit.data.labels import boundaries, colorize, open_label, palette
from munit.methods import METHODS

from helpers import tiny_config, tiny_raw


def palette_png(path, ids: np.ndarray) -> None:
    img = Image.fromarray(ids.astype(np.uint8), "P")
    img.putpalette([v for i in range(256) for v in ((i * 40) % 256, (i * 90) % 256, (i * 150) % 256)])
    img.save(path)


def halves(width: int, height: int) -> np.ndarray:
    """Class 1 on the left half, class 2 on the right, a class-3 square in the top-left corner."""
    ids = np.ones((height, width), np.uint8)
    ids[:, width // 2:] = 2
    ids[: height // 4, : width // 4] = 3
    return ids


def label_folder(root, count: int = 4, width: int = 96, height: int = 72):
    """trainA/ palette label maps and trainB/ photos (same stems, .jpg) whose colour says the class."""
    colours = {1: (220, 30, 30), 2: (30, 30, 220), 3: (30, 220, 30)}
    for split in ("train", "test"):
        (root / f"{split}A").mkdir(parents=True)
        (root / f"{split}B").mkdir()
        for i in range(count):
            ids = halves(width, height)
            palette_png(root / f"{split}A" / f"{i:03d}.png", ids)
            photo = np.zeros((height, width, 3), np.uint8)
            for c, rgb in colours.items():
                photo[ids == c] = rgb
            Image.fromarray(photo).save(root / f"{split}B" / f"{i:03d}.png")
    return root


def test_palette_png_gives_its_indices_and_a_colour_image_is_refused(tmp_path):
    ids = halves(16, 8)
    palette_png(tmp_path / "l.png", ids)
    packed = np.asarray(open_label(tmp_path / "l.png", 4))
    assert (packed == ids).all()  # The palette's colours are not what counts: the indices are.
    Image.fromarray(np.stack([ids * 50] * 3, -1)).save(tmp_path / "gray_rgb.png")
    assert (np.asarray(open_label(tmp_path / "gray_rgb.png", 200)) == ids * 50).all()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 16, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    with pytest.raises(DataError, match=r"c\.png: a label map must hold one channel of class ids"):
        open_label(tmp_path / "c.png", 4)


def test_class_ids_out_of_range_and_mismatched_instance_maps_are_named(tmp_path):
    palette_png(tmp_path / "l.png", halves(16, 8))
    with pytest.raises(DataError, match=r"l\.png: class id 3 is out of range for label_nc 3"):
        open_label(tmp_path / "l.png", 3)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "i.png")
    with pytest.raises(DataError, match=r"i\.png: instance map is 8x8 px but its label map .*l\.png is 16x8"):
        open_label(tmp_path / "l.png", 4, tmp_path / "i.png")


def test_boundaries_mark_both_sides_of_an_instance_edge():
    ids = torch.zeros(4, 6, dtype=torch.long)
    ids[1:3, 2:4] = 7
    edge = boundaries(ids)
    inside_or_next = torch.zeros(4, 6)
    inside_or_next[0:4, 1:5] = 1
    inside_or_next[0, 1] = inside_or_next[0, 4] = inside_or_next[3, 1] = inside_or_next[3, 4] = 0  # Corners.
    assert torch.equal(edge, inside_or_next)


def test_folder_label_maps_stay_aligned_with_their_photos_through_flips_resizing_and_crops(tmp_path):
    root = label_folder(tmp_path / "data")
    cfg = tiny_config(method="pix2pix", data_root=str(root), label_nc=4, new_size=48, crop_image_height=32,
                      crop_image_width=32)
    data = build_split(cfg, "train", paired=True)
    pairs = PairedDataset(data["a"], data["b"])
    for seed in range(12):  # Flips and crops vary with the seed.
        x_a, x_b = pairs[(seed % 4, seed)]
        assert x_a.shape == (4, 32, 32) and torch.equal(x_a.sum(0), torch.ones(32, 32))  # One class per pixel.
        photo_class = torch.stack([x_b[0], x_b[2], x_b[1]]).argmax(0) + 1  # Red 1, blue 2, green 3.
        sure = x_b.max(0).values > 0.5  # Away from edges blurred by bilinear resizing.
        assert torch.equal(x_a.argmax(0)[sure], photo_class[sure]), seed


def test_a_pair_of_two_sizes_and_a_missing_instance_folder_are_errors(tmp_path):
    root = label_folder(tmp_path / "data")
    palette_png(root / "trainA" / "001.png", halves(64, 72))
    cfg = tiny_config(method="pix2pix", data_root=str(root), label_nc=4)
    data = build_split(cfg, "train", paired=True)
    with pytest.raises(DataError, match=r"trainA/001\.png is 64x72 px but its partner .*trainB/001\.png is 96x72"):
        PairedDataset(data["a"], data["b"])[1]
    with pytest.raises(DataError, match=r"trainA_inst: image folder not found"):
        build_split(tiny_config(method="pix2pix", data_root=str(root), label_nc=4, use_instance=True), "train",
                    paired=True)


def test_builtin_label_maps_hold_the_shape_kind_and_cover_the_paired_photo():
    cfg = tiny_config(method="pix2pix", label_nc=LABEL_CLASSES, use_instance=True, builtin_train_size=8)
    data = build_split(cfg, "test", paired=True)
    pairs = PairedDataset(data["a"], data["b"])
    for i in range(8):
        x_a, x_b = pairs[i]
        assert x_a.shape == (LABEL_CLASSES + 1, 32, 32)
        classes = x_a[:LABEL_CLASSES].argmax(0)
        shape = draw_factors(cfg.seed, "test", "a", i).shape
        assert set(classes.unique().tolist()) == {0, 1 + shape}, SHAPES[shape]
        filled = x_b.mean(0) > -0.6  # The photo's shape is lit; its background is dark (0.12 grey).
        iou = (filled & (classes > 0)).sum() / (filled | (classes > 0)).sum()
        assert iou > 0.85, iou
        edge = x_a[LABEL_CLASSES].bool()
        assert edge.any() and torch.equal(edge, boundaries((classes > 0).long()).bool())


@pytest.mark.parametrize("bad, message", [
    ({"method": "munit", "label_nc": 5}, "method munit translates images, not label maps; methods that take label "
                                        "maps: pix2pix, bicyclegan"),
    ({"method": "pix2pix", "label_nc": 3}, "builtin:shapes's label maps have 5 classes"),
    ({"method": "pix2pix", "use_instance": True}, "instance maps come with label maps"),
    ({"method": "pix2pix", "label_nc": 300}, "expected at most 256 classes"),
])
def test_label_settings_a_method_or_data_cannot_use_are_config_errors(bad, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        tiny_config(**bad)


def test_colorize_paints_classes_and_boundaries():
    x = torch.zeros(1, 4, 2, 2)
    x[0, 0, 0] = 1
    x[0, 2, 1] = 1
    x[0, 3, 1, 1] = 1  # A boundary pixel.
    rgb = colorize(x, 3)
    assert torch.equal(rgb[0, :, 0, 0], palette(3)[0]) and torch.equal(rgb[0, :, 1, 0], palette(3)[2])
    assert torch.equal(rgb[0, :, 1, 1], torch.ones(3))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pix2pix", "pix2pixhd", "spade"])
def test_label_methods_train_on_builtin_label_maps_and_translate_label_files_through_cli_and_api(tmp_path, method):
    assert [m for m in METHODS if METHODS[m].takes_labels] == ["pix2pix", "bicyclegan", "pix2pixhd", "spade"]
    config = tmp_path / "labels.yaml"
    config.write_text(yaml.safe_dump(tiny_raw(method=method, label_nc=LABEL_CLASSES, use_instance=True,
                                              max_iter=2, gen={"dim": 4}, dis={"dim": 4, "n_layer": 2})))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--output", str(run), "--no-progress"]) == 0
    grid = np.asarray(Image.open(run / "images" / "a2b_test_00000002.png").convert("RGB"))
    assert len(np.unique(grid.reshape(-1, 3), axis=0)) > 3  # Coloured label maps beside the outputs.

    labels = tmp_path / "labels"
    labels.mkdir()
    ids = np.zeros((40, 40), np.uint8)
    ids[10:30, 10:30] = 2
    palette_png(labels / "square.png", ids)
    out = tmp_path / "out"
    assert main(["translate", "--checkpoint", str(run), "--input", str(labels), "--output", str(out)]) == 0
    written = Image.open(next(out.glob("square*.png")))
    assert written.size == (32, 32) and written.mode == "RGB"

    translator = Translator.from_pretrained(run)
    api = translator.translate(Image.open(labels / "square.png"), seed=10)  # The CLI's default seed.
    assert api.size == (32, 32)
    assert np.abs(np.asarray(api, np.int16) - np.asarray(written, np.int16)).max() <= 1
    ids[0, 0] = LABEL_CLASSES
    with pytest.raises(DataError, match="class id 5 is out of range for label_nc 5"):
        translator.translate(Image.fromarray(ids, "P"))
    with pytest.raises(Exception, match="C = 6"):
        translator.translate(torch.zeros(1, 3, 32, 32))
    assert main(["export", str(run), "--format", "torchscript", "--output", str(tmp_path / "exported")]) == 0
    manifest = json.loads((tmp_path / "exported" / "export.json").read_text())
    assert manifest["label_map"] == {"classes": LABEL_CLASSES, "instance_boundaries": True, "channels": 6,
                                     "values": [0, 1]}
    graph = torch.jit.load(tmp_path / "exported" / "translate_a2b.pt")
    onehot = torch.zeros(1, 6, 32, 32)
    onehot[:, 0] = 1
    args = (onehot, torch.zeros(1, translator.cfg.gen.style_dim)) if method == "spade" else (onehot,)
    assert graph(*args).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("method", ["pix2pix", "bicyclegan", "pix2pixhd", "spade"])
def test_label_methods_train_from_a_folder_of_label_maps_and_photos(tmp_path, method):
    root = label_folder(tmp_path / "data", width=40, height=32)
    config = tmp_path / "folder.yaml"
    config.write_text(yaml.safe_dump(tiny_raw(method=method, data_root=str(root), label_nc=4, max_iter=1,
                                              snapshot_save_iter=1, image_save_iter=1, gen={"dim": 4},
                                              dis={"dim": 4, "n_layer": 2})))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--output", str(run), "--no-progress"]) == 0
    translator = Translator.from_pretrained(run)
    out = translator.translate(Image.open(root / "testA" / "000.png"))
    assert out.size[1] == 32 and out.mode == "RGB"


def test_negative_and_oversized_ids_are_named(tmp_path):
    ids = np.zeros((4, 4), np.int32)
    ids[0, 0] = -3
    Image.fromarray(ids, "I").save(tmp_path / "neg.tif")  # 32-bit TIFF: PNG has no signed ids.
    with pytest.raises(DataError, match=r"neg\.tif: class id -3 is out of range for label_nc 4"):
        open_label(tmp_path / "neg.tif", 4)
    palette_png(tmp_path / "l.png", np.zeros((4, 4), np.uint8))
    inst = np.full((4, 4), 2 ** 24, np.int32)
    Image.fromarray(inst, "I").save(tmp_path / "inst.tif")
    with pytest.raises(DataError, match=r"inst\.tif: instance ids must be 0 to 8388607"):
        open_label(tmp_path / "l.png", 4, tmp_path / "inst.tif")
