"""Every method trains through the same `munit train` with its shipped config and translates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from munit.cli import main
from munit.inference import load_model
from munit.methods import METHODS

from helpers import ROOT, write_image

# Small enough for a test: 32 px, narrow networks; the loss that must fall is the method's own
# reconstruction term (image, cycle or ground-truth L1).
TINY = ["new_size=32", "crop_image_height=32", "crop_image_width=32", "max_iter=40", "batch_size=2", "lr=0.001",
        "lr_policy=constant", "log_iter=1", "image_save_iter=40", "image_display_iter=40", "snapshot_save_iter=40",
        "display_size=2", "builtin_train_size=64", "builtin_test_size=4", "gen.dim=8", "dis.dim=8"]
SMALL_DIS = ["dis.n_layer=2", "dis.num_scales=2", "gen.n_res=1", "gen.mlp_dim=16"]
CASES = {
    "munit": (SMALL_DIS, "gen/recon_x_a"),
    "unit": (SMALL_DIS, "gen/recon_x_a"),
    "cyclegan": (["gen.n_res=2"], "gen/cyc_x_a"),
    "cyclegan_noise": (["gen.n_res=2"], "gen/cyc_x_a"),
    "pix2pix": ([], "gen/recon_x"),
    "bicyclegan": ([], "gen/recon_x"),
}


def config_of(name: str):
    """The shipped built-in-data config of a method (MUNIT's is the demo's)."""
    return ROOT / "configs" / ("demo.yaml" if name == "munit" else f"{name}.yaml")


def test_every_method_has_a_case_and_a_config():
    assert set(CASES) == set(METHODS)
    for name in METHODS:
        assert config_of(name).is_file()


@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request, tmp_path_factory):
    name = request.param
    extra, _ = CASES[name]
    run = tmp_path_factory.mktemp(name) / "run"
    args = ["train", "--config", str(config_of(name)), "--output", str(run), "--no-progress"]
    for item in TINY + extra:
        args += ["--set", item]
    assert main(args) == 0
    return name, run


def test_training_lowers_the_reconstruction_loss(trained):
    name, run = trained
    term = CASES[name][1]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    first = np.mean([row[term] for row in log[:5]])
    last = np.mean([row[term] for row in log[-5:]])
    assert last < 0.8 * first, (term, first, last)
    assert (run / "images" / "a2b_test_00000040.png").is_file()


def test_translations_have_the_right_shape_and_range(trained, tmp_path):
    name, run = trained
    model = load_model(run)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    for direction in model.method.directions:
        y = model.method.translate(model.nets, x, direction)
        assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    if model.method.multimodal:
        a, b = (model.method.translate(model.nets, x, "a2b", model.method.random_styles(3, x.device))
                for _ in range(2))
        assert not torch.equal(a, b)
    image = write_image(tmp_path / "in.png", size=(40, 36))  # Not square, not the training size.
    args = ["translate", "--checkpoint", str(run), "--input", str(image), "--output", str(tmp_path / "out")]
    if model.method.multimodal:
        args += ["--num-styles", "2"]
    assert main(args) == 0
    outputs = sorted((tmp_path / "out").glob("*.png"))
    assert len(outputs) == (2 if model.method.multimodal else 1)
    expected = (32, 32, 3) if model.method.paired else (32, 36, 3)  # U-Nets take their training crop.
    assert np.asarray(Image.open(outputs[0])).shape == expected


def test_translate_explains_what_a_method_cannot_do(trained, tmp_path, capsys):
    name, run = trained
    model = load_model(run)
    image = write_image(tmp_path / "in.png", size=(32, 32))
    base = ["translate", "--checkpoint", str(run), "--input", str(image), "--output", str(tmp_path / "out")]
    if not model.method.multimodal:
        assert main(base + ["--num-styles", "3"]) == 2
        assert "gives one output per input" in capsys.readouterr().err
    if not model.method.reference_guided:
        assert main(base + ["--style", str(image)]) == 2
        assert "cannot copy the style of a reference image" in capsys.readouterr().err
    if "b2a" not in model.method.directions:
        assert main(base + ["--direction", "b2a"]) == 2
        assert "translates a2b only" in capsys.readouterr().err
