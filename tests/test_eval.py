"""Evaluation: each metric's mathematics on cases with known answers, the ground-truth readers on real
built-in images, the protocols end to end, and clear stops when pretrained weights are missing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from munit.cli import main
from munit.data.builtin import HUE_MODES, draw_factors, render
from munit.eval import groundtruth
from munit.eval.classifier import Classifier, builtin_labelled, save_classifier, train_classifier
from munit.eval.lpips import ALEXNET_FILE, HEADS_FILE, LPIPS, alexnet_features, load_lpips
from munit.eval.metrics import (
    FeatureNet,
    conditional_inception_score,
    frechet_distance,
    inception_score,
    kernel_distance,
    pairs,
)
from munit.training.loop import train
from munit.weights import WeightsMissing

from helpers import tiny_config

IDENTITY = FeatureNet(lambda x: x, 6, "identity")


def test_frechet_distance_of_identical_sets_is_zero():
    x = torch.randn(500, 6)
    assert frechet_distance(IDENTITY, x, x.clone()) == pytest.approx(0, abs=1e-6)


def test_frechet_distance_matches_the_closed_form():
    """Y = 2X + m: mu_Y = 2 mu_X + m, S_Y = 4 S_X, so FD = |mu_X + m|^2 + Tr(S_X + 4 S_X - 2 (4 S_X^2)^(1/2))
    = |mu_X + m|^2 + Tr(S_X)."""
    scales = torch.tensor([1.0, 2, 0.5, 1, 3, 1], dtype=torch.float64)
    x = torch.randn(2000, 6, dtype=torch.float64) * scales
    m = torch.tensor([1.0, -2, 0, 0.5, 0, 3], dtype=torch.float64)
    expected = float(((x.mean(0) + m) ** 2).sum() + torch.trace(torch.cov(x.T)))
    assert frechet_distance(IDENTITY, x, 2 * x + m) == pytest.approx(expected, rel=1e-6)


def test_kernel_distance_is_near_zero_for_one_distribution_and_positive_for_two():
    a, b = torch.randn(400, 6), torch.randn(400, 6)
    same_mean, same_std = kernel_distance(IDENTITY, a, b, subsets=20, subset_size=200)
    shifted, _ = kernel_distance(IDENTITY, a, b + 1.0, subsets=20, subset_size=200)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert shifted > 20 * max(abs(same_mean), 1e-3)


def test_inception_score_counts_equally_used_confident_classes():
    confident = torch.eye(4).repeat(25, 1) * 50  # 100 outputs, 4 classes used equally, each certain.
    assert inception_score(confident) == pytest.approx(4, rel=1e-4)
    assert inception_score(torch.zeros(100, 4)) == pytest.approx(1, rel=1e-6)  # Uncertain outputs.


def test_conditional_inception_score_is_one_when_style_is_ignored_and_grows_with_spread():
    ignoring = (torch.eye(5) * 50)[torch.arange(8) % 5][:, None].expand(8, 10, 5)  # Each input: one class.
    spreading = (torch.eye(5) * 50)[torch.arange(10) % 5][None].expand(8, 10, 5)  # Each input: all 5 classes.
    assert conditional_inception_score(ignoring) == pytest.approx(1, rel=1e-4)
    assert conditional_inception_score(spreading) == pytest.approx(5, rel=1e-4)
    # IS of the unimodal model still sees 5 classes across inputs; CIS is what tells them apart.
    assert inception_score(ignoring.reshape(-1, 5)) > 4


def test_pairings_of_the_two_diversity_protocols():
    assert len(pairs(20, "consecutive")) == 19 and pairs(3, "consecutive") == [(0, 1), (1, 2)]
    assert len(pairs(10, "all")) == 45
    with pytest.raises(ValueError, match="pairing"):
        pairs(4, "random")


def test_lpips_is_zero_for_an_image_with_itself_symmetric_and_positive_otherwise():
    lpips = LPIPS()
    x, y = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    assert torch.all(lpips(x, x) == 0)
    torch.testing.assert_close(lpips(x, y), lpips(y, x))
    assert torch.all(lpips(x, y) > 0)
    assert lpips(x[:, :1], y[:, :1]).shape == (2,)  # Gray images are repeated to RGB.


def test_lpips_loads_released_file_layouts_and_says_what_is_missing(tmp_path):
    features = alexnet_features()
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()} | {"classifier.1.weight": torch.ones(1)},
               tmp_path / ALEXNET_FILE)
    with pytest.raises(WeightsMissing, match=HEADS_FILE) as info:
        load_lpips(tmp_path, download=False)
    assert "github.com/richzhang/PerceptualSimilarity" in str(info.value)
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(heads, tmp_path / HEADS_FILE)
    loaded = load_lpips(tmp_path, download=False)
    expected = LPIPS(features, list(heads.values()))
    x, y = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    torch.testing.assert_close(loaded(x, y), expected(x, y))


def test_ground_truth_readers_on_real_built_in_images():
    b = [draw_factors(0, "test", "b", i) for i in range(40)]
    a = [draw_factors(0, "test", "a", i) for i in range(40)]
    b_images, a_images = [render(f, "b", 64) for f in b], [render(f, "a", 64) for f in a]
    assert groundtruth.content_iou(b_images, b, "b") > 0.9
    assert groundtruth.content_iou(a_images, a, "a") > 0.9
    assert groundtruth.content_iou(b_images, a, "b") < 0.5  # Another shape's region.
    fidelity = groundtruth.reference_fidelity(b_images, b)
    assert fidelity["mode_accuracy"] == 1.0 and fidelity["hue_error"] < 0.01
    by_mode = [[render(f, "b", 64) for f in b if f.hue_mode == m][:1] for m in range(len(HUE_MODES))]
    spread = groundtruth.mode_coverage([sum(by_mode, [])])  # One input whose outputs show every mode.
    assert spread["coverage"] == 1.0 and spread["mode_entropy"] == pytest.approx(np.log2(5))
    one = groundtruth.mode_coverage([[b_images[0]] * 5])
    assert one["coverage"] == 0.2 and one["mode_entropy"] == 0
    blank = groundtruth.mode_coverage([[np.full((64, 64, 3), 30, np.uint8)]])
    assert blank["no_shape"] == 1.0


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-iteration MUNIT run and a briefly trained classifier of built-in B images, at 32 px."""
    root = tmp_path_factory.mktemp("eval")
    torch.manual_seed(0)
    train(tiny_config(max_iter=2, builtin_test_size=12), root / "run", torch.device("cpu"), progress=False)
    data = builtin_labelled("b", "train", 64, 32)
    model, _ = train_classifier(data, None, iterations=5, batch_size=8, size=32, progress=False)
    save_classifier(model, data.classes, root / "clf.pt")
    return root


def run_cli(args, capsys):
    code = main(args)
    return code, capsys.readouterr()


@pytest.mark.parametrize("name", ["builtin", "fid", "is-cis", "lpips-munit"])
def test_evaluate_writes_one_complete_record_per_protocol(tiny_run, tmp_path, capsys, name, monkeypatch):
    if name == "lpips-munit":  # Random LPIPS weights stand in for the released ones.
        monkeypatch.setattr("munit.eval.protocols.load_lpips", lambda *a, **k: LPIPS())
    out = tmp_path / "results.jsonl"
    code, io = run_cli(["evaluate", "--checkpoint", str(tiny_run / "run"), "--protocol", name, "--out", str(out),
                        "--classifier", str(tiny_run / "clf.pt"), "--data", "builtin:shapes", "--no-progress"],
                       capsys)
    assert code == 0, io.err
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    for key in ("protocol", "metrics", "direction", "method", "checkpoint", "iteration", "seed", "num_inputs",
                "outputs_per_input", "image_size", "resize_filter", "feature_network", "munit_version"):
        assert key in record, key
    assert record["protocol"] == name and record["image_size"] == [32, 32] and record["iteration"] == 2
    assert all(np.isfinite(v) for v in record["metrics"].values())
    expected = {"builtin": {"content_iou", "realism_fd", "coverage", "mode_accuracy"}, "fid": {"fid", "kid"},
                "is-cis": {"is", "cis"}, "lpips-munit": {"lpips"}}[name]
    assert expected <= record["metrics"].keys()
    if name == "lpips-munit":
        assert record["outputs_per_input"] == 20 and record["pairs_per_input"] == 19 and record["num_inputs"] == 12


def test_evaluate_without_weights_stops_before_any_work_and_writes_nothing(tiny_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    out = tmp_path / "results.jsonl"
    code, io = run_cli(["evaluate", "--checkpoint", str(tiny_run / "run"), "--protocol", "lpips-munit",
                        "--out", str(out), "--no-download", "--no-progress"], capsys)
    assert code == 2 and not out.exists()
    (line,) = io.err.strip().splitlines()
    assert ALEXNET_FILE in line and "download.pytorch.org" in line and "put it at" in line


def test_unknown_protocol_is_refused_with_a_suggestion(tiny_run, capsys):
    code, io = run_cli(["evaluate", "--checkpoint", str(tiny_run / "run"), "--protocol", "lpips-munt"], capsys)
    assert code == 2 and "did you mean 'lpips-munit'" in io.err


def test_train_classifier_on_class_folders(tmp_path, capsys):
    for name, shade in (("cats", 40), ("dogs", 220)):  # Two classes a classifier tells apart at once.
        for i in range(6):
            (tmp_path / "data" / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((36, 40, 3), shade + i, np.uint8)).save(tmp_path / "data" / name / f"{i}.png")
    out = tmp_path / "clf.pt"
    code, io = run_cli(["train-classifier", "--data", str(tmp_path / "data"), "--test", str(tmp_path / "data"),
                        "--output", str(out), "--size", "32", "--iterations", "30", "--no-progress"], capsys)
    assert code == 0, io.err
    assert "2 classes, test accuracy 100.0%" in io.out
    state = torch.load(out, weights_only=True)
    assert state["classes"] == ["cats", "dogs"] and isinstance(Classifier(3, 2, 32), torch.nn.Module)
    code, io = run_cli(["train-classifier", "--data", str(tmp_path / "data" / "cats"), "--output", str(out)], capsys)
    assert code == 2 and "one subfolder of images per class" in io.err
