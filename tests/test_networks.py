"""Network shapes, parameter counts and options."""

from __future__ import annotations

import pytest
import torch

from munit.nets.baselines import UnetGenerator
from munit.nets.blocks import ACTIVATIONS, PAD_TYPES, Conv2dBlock, LayerNorm, init_weights
from munit.nets.discriminator import MsImageDis
from munit.nets.generators import AdaINGen, split_adain_params


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("kwargs, expected", [
    ({}, 15_026_187),  # The paper's default (configs/edges2shoes_folder.yaml).
    ({"dim": 16, "mlp_dim": 64}, 947_211),  # The golden config.
])
def test_generator_parameter_counts(kwargs, expected):
    assert n_params(AdaINGen(3, **kwargs)) == expected


def test_default_generator_parts():
    gen = AdaINGen(3)
    parts = {name: n_params(getattr(gen, name)) for name in ("enc_style", "enc_content", "dec", "mlp")}
    assert parts == {"enc_style": 2_764_936, "enc_content": 5_385_856, "dec": 5_754_627, "mlp": 1_120_768}
    assert gen.dec.num_adain_params == 4096


@pytest.mark.parametrize("kwargs, expected", [({}, 8_271_171), ({"dim": 16}, 519_507)])
def test_discriminator_parameter_counts(kwargs, expected):
    assert n_params(MsImageDis(3, **kwargs)) == expected


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("n_downsample, size", [(2, 64), (1, 32), (3, 64)])
def test_generator_shapes(channels, n_downsample, size):
    gen = AdaINGen(channels, dim=8, style_dim=5, n_downsample=n_downsample, n_res=2, mlp_dim=16)
    x = torch.rand(2, channels, size, size + 16) * 2 - 1
    content, style = gen.encode(x)
    assert content.shape == (2, 8 * 2 ** n_downsample, size // 2 ** n_downsample, (size + 16) // 2 ** n_downsample)
    assert style.shape == (2, 5, 1, 1)
    y = gen.decode(content, torch.randn(2, 5))
    assert y.shape == x.shape
    assert y.abs().max() <= 1


def test_discriminator_output_scales():
    dis = MsImageDis(3, dim=8)
    outs = dis(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 1, 4, 4), (2, 1, 2, 2), (2, 1, 1, 1)]
    outs = dis(torch.randn(1, 3, 256, 256))
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 16), (8, 8), (4, 4)]


@pytest.mark.parametrize("activ", ACTIVATIONS)
@pytest.mark.parametrize("pad_type", PAD_TYPES)
def test_every_activation_and_padding_runs(activ, pad_type):
    gen = AdaINGen(3, dim=4, style_dim=2, n_downsample=1, n_res=1, activ=activ, pad_type=pad_type, mlp_dim=8)
    assert gen(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("norm", ["none", "bn", "in", "ln", "sn"])
def test_every_discriminator_norm_runs_and_trains(norm):
    dis = MsImageDis(3, dim=4, norm=norm, n_layer=3, num_scales=2)
    out = dis(torch.randn(2, 3, 32, 32))
    sum(o.mean() for o in out).backward()
    trainable = [p for p in dis.parameters() if p.requires_grad]
    assert all(p.grad is not None for p in trainable)
    if norm == "sn":
        keys = dis.state_dict().keys()
        assert "cnns.0.1.conv.module.weight_bar" in keys and "cnns.0.1.conv.module.weight_u" in keys


def test_spectral_norm_bounds_the_largest_singular_value():
    torch.manual_seed(0)
    block = Conv2dBlock(6, 5, 3, 1, 1, norm="sn", activation="none")
    for _ in range(30):  # Power iterations converge.
        block(torch.randn(1, 6, 8, 8))
    m = block.conv.module
    w = m.weight_bar.detach().view(5, -1)
    sigma = torch.linalg.matrix_norm(w / (m.weight_u @ w @ m.weight_v), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=1e-3)


def test_layer_norm_is_the_reference_formula():
    ln = LayerNorm(3)
    x = torch.randn(2, 3, 4, 5)
    flat = x.flatten(1)
    mean = flat.mean(1).view(2, 1, 1, 1)
    std = flat.std(1, unbiased=True).view(2, 1, 1, 1)
    expected = (x - mean) / (std + 1e-5) * ln.gamma.view(1, 3, 1, 1) + ln.beta.view(1, 3, 1, 1)
    torch.testing.assert_close(ln(x), expected)
    # Differs from GroupNorm(1, C) (biased variance, eps inside the sqrt).
    gn = torch.nn.functional.group_norm(x, 1, ln.gamma, ln.beta)
    assert not torch.allclose(ln(x), gn, atol=1e-6)


def test_adain_parameter_split_order():
    # Two layers of 2 channels: [bias0, weight0, bias1, weight1] per sample.
    p = torch.arange(16.0).view(2, 8)
    (w0, b0), (w1, b1) = split_adain_params(p, 2)
    assert b0.tolist() == [[0, 1], [8, 9]] and w0.tolist() == [[2, 3], [10, 11]]
    assert b1.tolist() == [[4, 5], [12, 13]] and w1.tolist() == [[6, 7], [14, 15]]


def test_adain_normalises_per_sample_and_channel():
    gen = AdaINGen(3, dim=4, style_dim=2, n_downsample=1, n_res=1, mlp_dim=8)
    norm = gen.dec.model[0].model[0].model[0].norm
    x = torch.randn(2, 8, 5, 5) * 3 + 2
    weight, bias = torch.full((2, 8), 2.0), torch.full((2, 8), -1.0)
    y = norm(x, weight, bias)
    torch.testing.assert_close(y.mean((2, 3)), bias, atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var((2, 3), unbiased=False), weight ** 2, atol=1e-3, rtol=1e-3)


def test_style_changes_output_and_content_code_ignores_style_input():
    torch.manual_seed(0)
    gen = AdaINGen(3, dim=8, style_dim=4, n_downsample=1, n_res=1, mlp_dim=16)
    init_weights(gen, "kaiming")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    c = gen.encode_content(x)
    a, b = gen.decode(c, torch.randn(1, 4)), gen.decode(c, torch.randn(1, 4))
    assert (a - b).abs().mean() > 1e-3


def test_init_weights_kinds():
    gen = AdaINGen(3, dim=8, style_dim=4, n_downsample=1, n_res=1, mlp_dim=16)
    init_weights(gen, "gaussian")
    w = gen.enc_content.model[0].conv.weight
    assert w.std().item() == pytest.approx(0.02, rel=0.15)
    assert torch.count_nonzero(gen.enc_content.model[0].conv.bias) == 0
    init_weights(gen, "kaiming")
    fan_in = 3 * 7 * 7
    assert w.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.15)
    with pytest.raises(ValueError, match="init must be one of"):
        init_weights(gen, "uniform")


def test_init_weights_covers_transposed_convs():
    """The official codes pick the modules to initialise by class name, so ConvTranspose2d is one of them
    (it is no subclass of nn.Conv2d): CycleGAN's and the U-Net's up path get N(0, 0.02) and zero biases."""
    torch.manual_seed(0)
    unet = UnetGenerator(3, 3, 5, 16)
    init_weights(unet, "gaussian")
    up = [m for m in unet.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(up) == 5
    weights = torch.cat([m.weight.flatten() for m in up])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)
    assert all(torch.count_nonzero(m.bias) == 0 for m in up if m.bias is not None)


def test_unet_layer_norm_keeps_a_per_channel_offset_that_instance_norm_removes():
    """A broadcast latent reaches the U-Net's inner levels as a per-channel constant; instance norm right
    after the conv removes it, layer norm (gen.norm: ln) keeps it."""
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 8)
    offset = torch.randn(1, 4, 1, 1)
    assert torch.nn.InstanceNorm2d(4)(x + offset).sub(torch.nn.InstanceNorm2d(4)(x)).abs().max() < 1e-5
    ln = LayerNorm(4)
    assert (ln(x + offset) - ln(x)).abs().max() > 0.1
    unet = UnetGenerator(3, 3, 5, 4, latent_dim=2, norm="ln")
    assert any(isinstance(m, LayerNorm) for m in unet.modules())
    assert unet(torch.rand(2, 3, 32, 32), torch.randn(2, 2)).shape == (2, 3, 32, 32)


def test_unet_where_add_puts_the_latent_at_the_input_at_every_level_or_in_the_up_norms():
    """where_add "input" and "all" concatenate z (the official BicycleGAN's two ways), "norm" scales and shifts
    each normalised up level by z; in every case a different z gives a different output."""
    torch.manual_seed(0)
    x, z1, z2 = torch.rand(2, 3, 32, 32), torch.randn(2, 4), torch.randn(2, 4)
    widths = {}
    for where in ("input", "all", "norm"):
        unet = UnetGenerator(3, 3, 5, 4, latent_dim=4, where_add=where)
        widths[where] = [level[-2 if len(level) > 2 else -1].in_channels for level in unet.down]
        assert (unet(x, z1) - unet(x, z2)).abs().mean() > 1e-3
        with pytest.raises(ValueError, match="latent vector of 4 values"):
            unet(x)
    assert widths["input"] == [3 + 4, 4, 8, 16, 32]
    assert widths["all"] == [3 + 4, 4 + 4, 8 + 4, 16 + 4, 32 + 4]
    assert widths["norm"] == [3, 4, 8, 16, 32]
    unet = UnetGenerator(3, 3, 5, 4, latent_dim=4, where_add="norm")
    assert [m.out_features for m in unet.modulation] == [2 * 32, 2 * 16, 2 * 8, 2 * 4]  # (scale, shift) per level.
    init_weights(unet, "gaussian")
    unet.reset_modulation()
    assert unet.modulation[0].weight.std() > 0.1  # PyTorch's default (bound 1/2 here), not N(0, 0.02).
    coarse = UnetGenerator(3, 3, 5, 4, latent_dim=4, where_add="norm", mod_levels=2)
    assert [m.out_features for m in coarse.modulation] == [2 * 32, 2 * 16]  # The two innermost up levels.
    assert (coarse(x, z1) - coarse(x, z2)).abs().mean() > 1e-3
    with pytest.raises(ValueError, match="mod_levels must be 0"):
        UnetGenerator(3, 3, 5, 4, latent_dim=4, where_add="norm", mod_levels=5)
    with pytest.raises(ValueError, match="where_add must be"):
        UnetGenerator(3, 3, 5, 4, latent_dim=4, where_add="middle")
