"""The perceptual loss: weights from a local file, clear error when absent, both weight layouts."""

from __future__ import annotations

import pytest
import torch

from munit.errors import UsageError
from munit.methods import build_method, config_from_dict
from munit.nets.vgg import (
    TORCHVISION_INDICES,
    TORCHVISION_URL,
    VGG19_FILE,
    VGG19_INDICES,
    VGG19_URL,
    Vgg16Features,
    Vgg19Layers,
    VGGWeightsMissing,
    load_vgg16,
    load_vgg19,
    perceptual_loss,
    vgg19_loss,
)
from munit.training.loop import Trainer

from helpers import tiny_config


def random_vgg_file(path, layout: str):
    torch.manual_seed(0)
    net = Vgg16Features()
    if layout == "torchvision":
        names = [f"features.{i}" for i in TORCHVISION_INDICES]
    else:
        names = [f"conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)]
    state = {}
    for name, conv in zip(names, net.convs, strict=True):
        state[f"{name}.weight"], state[f"{name}.bias"] = conv.weight * 10, conv.bias
    torch.save(state, path)
    return net


@pytest.mark.parametrize("layout, caffe", [("torchvision", False), ("reference", True)])
def test_loads_both_layouts(tmp_path, layout, caffe):
    file = tmp_path / ("vgg16-397923af.pth" if layout == "torchvision" else "vgg16.weight")
    random_vgg_file(file, layout)
    vgg = load_vgg16(str(tmp_path))
    assert vgg.caffe is caffe
    torch.testing.assert_close(vgg.convs[12].bias, torch.load(file, weights_only=True)[
        "features.28.bias" if layout == "torchvision" else "conv5_3.bias"])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert vgg(x).shape == (2, 512, 4, 4)  # relu5_3 at 1/8: pools after blocks 1-3 only.
    assert perceptual_loss(vgg, x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert perceptual_loss(vgg, x, -x).item() > 0


def test_missing_weights_say_what_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MUNIT_VGG16", raising=False)
    with pytest.raises(VGGWeightsMissing) as err:
        load_vgg16(str(tmp_path / "nowhere"))
    message = str(err.value)
    assert TORCHVISION_URL in message and str(tmp_path / "cache" / "hub" / "checkpoints") in message
    cfg = config_from_dict({"vgg_w": 1.0, "vgg_model_path": str(tmp_path / "nowhere")})
    assert build_method(cfg).vgg is None  # Loading a model for inference needs no VGG weights ...
    with pytest.raises(VGGWeightsMissing):  # ... training does.
        Trainer(cfg, torch.device("cpu"))


def test_env_variable_and_wrong_file(tmp_path, monkeypatch):
    file = tmp_path / "weights.pth"
    random_vgg_file(file, "torchvision")
    monkeypatch.setenv("MUNIT_VGG16", str(file))
    assert load_vgg16(None).caffe is False
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a VGG16 state dict"):
        load_vgg16(str(tmp_path / "other.pth"))


def test_training_step_with_perceptual_loss(tmp_path):
    file = tmp_path / "vgg16-397923af.pth"
    random_vgg_file(file, "torchvision")
    cfg = tiny_config(vgg_w=1.0, vgg_model_path=str(file), input_dim_a=1)
    method = build_method(cfg)
    method.setup_training(torch.device("cpu"))
    nets = method.build_networks()
    x_a, x_b = torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    loss, terms = method.generator_loss(nets, method.generator_pass(nets, x_a, x_b))
    assert {"vgg_a", "vgg_b"} <= terms.keys() and terms["vgg_a"] > 0
    loss.backward()
    assert all(p.grad is None for p in method.vgg.parameters())


def test_vgg19_loads_torchvision_layout_weights_and_weighs_five_layers(tmp_path):
    torch.manual_seed(0)
    reference = Vgg19Layers()
    state = {}
    for index, conv in zip(VGG19_INDICES, reference.convs, strict=True):
        state[f"features.{index}.weight"], state[f"features.{index}.bias"] = conv.weight * 10, conv.bias
    torch.save(state, tmp_path / VGG19_FILE)
    vgg = load_vgg19(str(tmp_path))
    torch.testing.assert_close(vgg.convs[12].weight, reference.convs[12].weight * 10)
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    feats = vgg(x)
    assert [f.shape[1:] for f in feats] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    expected = sum(w * (a - b).abs().mean() for w, a, b in zip((1 / 32, 1 / 16, 1 / 8, 1 / 4, 1), feats, vgg(y),
                                                               strict=True))
    torch.testing.assert_close(vgg19_loss(vgg, x, y), expected)
    del state["features.28.bias"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(UsageError, match=r"broken\.pth: not torchvision's VGG19 \(features\.28\.bias missing"):
        load_vgg19(str(tmp_path / "broken.pth"))


@pytest.mark.parametrize("method", ["pix2pixhd", "spade"])
def test_pix2pixhd_and_spade_name_the_missing_vgg19_file_and_train_with_it(tmp_path, method):
    with pytest.raises(VGGWeightsMissing, match=f"needs {VGG19_FILE}.*{VGG19_URL}"):
        Trainer(tiny_config(method=method, vgg_w=10.0, vgg_model_path=str(tmp_path / "nowhere")), torch.device("cpu"))
    torch.save({f"features.{i}.{p}": getattr(c, p) for i, c in zip(VGG19_INDICES, Vgg19Layers().convs, strict=True)
                for p in ("weight", "bias")}, tmp_path / VGG19_FILE)
    trainer = Trainer(tiny_config(method=method, vgg_w=10.0, vgg_model_path=str(tmp_path)), torch.device("cpu"))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    terms = trainer.step(x, -x)
    assert terms["gen/vgg"] > 0
