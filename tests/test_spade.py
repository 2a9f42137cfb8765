"""SPADE: the layers' maths (spatially-adaptive modulation, feature matching, losses averaged over scales)
and the settings it refuses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from munit.config import ConfigError
from munit.data.builtin import LABEL_CLASSES
from munit.methods import build_method
from munit.nets.blocks import init_weights
from munit.nets.spade import SPADE, MultiscaleDis, SPADEGenerator, feature_matching

from helpers import tiny_config


def test_spade_normalises_then_scales_and_shifts_by_the_label_map_at_each_pixel():
    torch.manual_seed(0)
    layer = SPADE(4, 3, norm="in").eval()
    x, labels = torch.randn(2, 4, 8, 8), torch.rand(2, 3, 4, 4)
    hidden = layer.shared(F.interpolate(labels, size=(8, 8), mode="nearest"))
    expected = F.instance_norm(x) * (1 + layer.gamma(hidden)) + layer.beta(hidden)
    torch.testing.assert_close(layer(x, labels), expected, rtol=1e-4, atol=1e-5)


def test_spade_modulation_is_local_to_the_label_change():
    torch.manual_seed(0)
    layer = SPADE(2, 3, norm="in")
    x, labels = torch.randn(1, 2, 16, 16), torch.zeros(1, 3, 16, 16)
    other = labels.clone()
    other[:, 1, 4:6, 4:6] = 1
    changed = (layer(x, labels) - layer(x, other)).abs().sum(1)[0] > 0
    assert changed[2:8, 2:8].any() and not changed[8:].any() and not changed[:, 8:].any()  # Two 3x3 convs reach 2 px.


def test_the_generator_follows_the_label_map_and_the_code():
    torch.manual_seed(0)
    gen = SPADEGenerator(LABEL_CLASSES, 3, 64, 64, dim=2, z_dim=8, norm="in")
    init_weights(gen, "xavier", gain=0.02)  # SPADE's init, as the method builds it.
    assert gen.grid == (2, 2)
    labels = torch.zeros(1, LABEL_CLASSES, 64, 64)
    labels[:, 0] = 1
    other = labels.clone()
    other[:, :, 16:48, 16:48] = 0
    other[:, 2, 16:48, 16:48] = 1  # A square of class 2 in the middle.
    z = torch.randn(1, 8)
    y, y_other, y_z = gen(labels, z), gen(other, z), gen(labels, torch.randn(1, 8))
    assert y.shape == (1, 3, 64, 64) and y.abs().max() <= 1
    assert (y - y_other).abs().mean() > 1e-4  # Every block is modulated by the map (locality: the SPADE test).
    assert not torch.allclose(y, y_z)


def test_feature_matching_is_l1_over_layers_but_the_last_averaged_over_scales():
    torch.manual_seed(0)
    dis = MultiscaleDis(4, dim=4, n_layer=3, num_scales=2)
    fake, real = dis.features(torch.randn(1, 4, 32, 32)), dis.features(torch.randn(1, 4, 32, 32))
    assert [len(s) for s in fake] == [4, 4] and fake[1][0].shape[-1] == 9  # 32 -> 16 px -> stride 2, padding 2.
    expected = sum((f - r).abs().mean() for fs, rs in zip(fake, real, strict=True)
                   for f, r in zip(fs[:3], rs[:3], strict=True)) / 2
    torch.testing.assert_close(feature_matching(fake, real), expected)


def test_the_discriminator_loss_is_the_hinge_averaged_over_scales():
    cfg = tiny_config(method="spade", dis={"gan_type": "hinge", "num_scales": 2})
    method = build_method(cfg)
    nets = method.build_networks()
    x_a, x_b, fake = (torch.rand(2, 3, 32, 32) * 2 - 1 for _ in range(3))
    total, _ = method.discriminator_loss(nets, x_a, x_b, {"dis": torch.cat([x_a, fake], 1)})
    outs_fake, outs_real = nets["dis"](torch.cat([x_a, fake], 1)), nets["dis"](torch.cat([x_a, x_b], 1))
    hinge = [F.relu(1 + f).mean() + F.relu(1 - r).mean() for f, r in zip(outs_fake, outs_real, strict=True)]
    torch.testing.assert_close(total, sum(hinge) / 2)


@pytest.mark.parametrize("bad, message", [
    ({"crop_image_height": 48, "crop_image_width": 48, "new_size": 48}, "must be multiples of 32"),
    ({"crop_image_height": 64, "crop_image_width": 32, "new_size": 64}, "takes square crops"),
    ({"gen": {"norm": "ln"}}, "modulates a parameter-free bn or in"),
])
def test_crops_the_generator_cannot_make_are_config_errors(bad, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(method="spade", **bad)
