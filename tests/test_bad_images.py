"""Bad and odd image files through the data pipeline and `munit translate`: each is read correctly or
refused with one line naming the file; training with skip_bad_images goes on and counts what it skipped."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from munit.cli import main
from munit.data.images import DataError, open_image, to_tensor
from munit.training.loop import train

from helpers import tiny_config

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, (24, 20, 3), dtype=np.uint8)


def encoded(fmt: str, mode: str = "RGB", **kwargs) -> bytes:
    if mode == "I;16":
        img = Image.fromarray(PIXELS[:, :, 0].astype(np.uint16) * 257)
    else:
        img = Image.fromarray(PIXELS).convert(mode)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def animated_gif() -> bytes:
    frames = [Image.fromarray(np.full((24, 20, 3), v, np.uint8)) for v in (30, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buffer.getvalue()


def transparent_palette_png() -> bytes:
    img = Image.fromarray(PIXELS).convert("P")
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", transparency=0)
    return buffer.getvalue()


def bomb_png() -> bytes:
    """100 megapixels that compress to a few kB."""
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")
    return buffer.getvalue()


READABLE = {  # name: (file name, bytes)
    "16-bit gray PNG": ("a.png", lambda: encoded("PNG", "I;16")),
    "palette PNG with transparency": ("b.png", transparent_palette_png),
    "CMYK JPEG": ("c.jpg", lambda: encoded("JPEG", "CMYK")),
    "grayscale JPEG": ("d.jpg", lambda: encoded("JPEG", "L")),
    "RGBA PNG": ("e.png", lambda: encoded("PNG", "RGBA")),
    "gray + alpha PNG": ("f.png", lambda: encoded("PNG", "LA")),
    "animated GIF (first frame)": ("g.gif", animated_gif),
    "PNG named .jpg": ("h.jpg", lambda: encoded("PNG")),
    "WebP": ("i.webp", lambda: encoded("WEBP")),
    "TIFF": ("j.tiff", lambda: encoded("TIFF")),
}
REFUSED = {
    "zero bytes": ("k.png", lambda: b""),
    "truncated PNG": ("l.png", lambda: encoded("PNG")[:200]),
    "truncated JPEG": ("m.jpg", lambda: encoded("JPEG")[:300]),
    "text named .png": ("n.png", lambda: b"hello, I am not an image\n"),
    "decompression bomb": ("o.png", bomb_png),
}


@pytest.mark.parametrize("name", READABLE)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_odd_but_valid_files_are_read(tmp_path, name, channels):
    file_name, make = READABLE[name]
    path = tmp_path / file_name
    path.write_bytes(make())
    x = to_tensor(open_image(path, channels))
    assert x.shape == (channels, 24, 20) and torch.isfinite(x).all() and x.min() >= -1 and x.max() <= 1


def test_transparent_pixels_become_white_in_rgb(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)  # Fully transparent black.
    path = tmp_path / "t.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert torch.all(to_tensor(open_image(path, 3)) == 1)


@pytest.mark.parametrize("name", REFUSED)
def test_bad_files_are_refused_naming_the_file(tmp_path, name):
    file_name, make = REFUSED[name]
    path = tmp_path / file_name
    path.write_bytes(make())
    with pytest.raises(DataError) as info:
        open_image(path, 3)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    if name == "decompression bomb":
        assert "10000x10000 pixels is more than" in message


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    train(tiny_config(max_iter=1), root / "run", torch.device("cpu"), progress=False)
    return root / "run"


@pytest.mark.parametrize("name", [*READABLE, *REFUSED])
def test_translate_reads_or_refuses_each_file(run, tmp_path, capsys, name):
    file_name, make = {**READABLE, **REFUSED}[name]
    path = tmp_path / "in" / file_name
    path.parent.mkdir()
    path.write_bytes(make())
    code = main(["translate", "--checkpoint", str(run), "--input", str(path), "--output", str(tmp_path / "out"),
                 "--num-styles", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    if name in READABLE:
        assert code == 0 and len(list((tmp_path / "out").glob("*.png"))) == 1
    else:
        assert code == 2 and len(err) == 1 and str(path) in err[0]
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "WEBP"]), data=st.data())
def test_fuzzed_files_are_read_or_refused_cleanly(tmp_path, fmt, data):
    """Random truncations and byte changes of valid files: a correct image or a DataError, never a crash."""
    raw = bytearray(encoded(fmt))
    cut = data.draw(st.integers(0, len(raw)), label="length")
    raw = raw[:cut]
    for _ in range(data.draw(st.integers(0, 4), label="flips")):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path / f"fuzz.{fmt.lower()}"
    path.write_bytes(bytes(raw))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = open_image(path, 3)
    except DataError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
    else:
        assert img.mode == "RGB" and img.size[0] > 0 and img.size[1] > 0


def test_training_skips_bad_images_and_reports_how_many(tmp_path):
    for domain in ("A", "B"):
        for i in range(8):
            path = Path(tmp_path / f"train{domain}" / f"{i}.png")
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
        (tmp_path / f"test{domain}").mkdir()
        Image.fromarray(PIXELS).save(tmp_path / f"test{domain}" / "0.png")
    (tmp_path / "trainA" / "3.png").write_bytes(b"")
    (tmp_path / "trainA" / "5.png").write_bytes(encoded("PNG")[:100])
    (tmp_path / "trainB" / "1.png").write_bytes(b"junk")
    cfg = tiny_config(data_root=str(tmp_path), skip_bad_images=True, max_iter=20, batch_size=1, log_iter=20,
                      image_save_iter=100, image_display_iter=100, snapshot_save_iter=100, display_size=1)
    with pytest.warns(UserWarning) as record:
        train(cfg, tmp_path / "run", torch.device("cpu"), progress=False)
    messages = [str(w.message) for w in record]
    assert sum("skipping unreadable image" in m for m in messages) == 3  # Once per file.
    assert any("2 of domain A, 1 of domain B" in m for m in messages)
    import json

    last = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    assert last["skipped/images"] == 3


def test_extreme_aspect_ratios_are_refused_before_resizing(tmp_path, capsys):
    """A 1 x 300,000 px PNG is 1.2 kB and within the file pixel limit, but resizing its shorter side to the
    training size would make 64 x 19,200,000 px: refused naming the file, in training and in translate,
    in well under a second and without the memory."""
    import time

    from munit.data.images import FileDataset

    bomb = tmp_path / "thin.png"
    Image.new("RGB", (1, 300_000)).save(bomb)
    assert bomb.stat().st_size < 5_000
    data = FileDataset([bomb], size=64, crop=(64, 64), channels=3, train=True)
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"thin.png: 1x300000 px would be 64x19200000 px after resizing"):
        data[0]
    assert time.perf_counter() - start < 2
    run = tmp_path / "run"
    train(tiny_config(max_iter=1), run, torch.device("cpu"), progress=False)
    code = main(["translate", "--checkpoint", str(run), "--input", str(bomb), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "thin.png: 1x300000 px would be" in err[0]


def test_a_bad_training_image_read_by_a_loader_worker_gives_one_line(tmp_path, capsys):
    """With loader worker processes (the default), torch re-raises a worker's error with the worker's whole
    traceback in its message (21 lines); munit reports the worker's own line."""
    import yaml

    for domain in ("A", "B"):
        for split in ("train", "test"):
            for i in range(8):
                path = tmp_path / "data" / f"{split}{domain}" / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
    for i in (1, 2, 3):  # Not among the images the sample grids read first (0 and the last four).
        (tmp_path / "data" / "trainB" / f"{i}.png").write_bytes(b"junk")
    config = tmp_path / "c.yaml"
    raw = {"data_root": str(tmp_path / "data"), "new_size": 32, "crop_image_height": 32, "crop_image_width": 32,
           "batch_size": 1, "max_iter": 50, "num_workers": 1, "display_size": 1, "snapshot_save_iter": 100,
           "image_save_iter": 100, "image_display_iter": 100,
           "gen": {"dim": 4, "mlp_dim": 8, "n_downsample": 1, "n_res": 1},
           "dis": {"dim": 4, "n_layer": 2, "num_scales": 2}}
    config.write_text(yaml.safe_dump(raw))
    code = main(["train", "--config", str(config), "--output", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "trainB" in err[0] and "cannot read image" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "run").exists()  # Failed before its first checkpoint: no half-made run folder.
