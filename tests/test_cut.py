"""CUT and FastCUT beyond the registry's shared checks: the PatchNCE term as the authors compute it from
the parts checked against their code (tests/test_interop_cyclegan.py), its weights, FastCUT's flips, and
clear config errors."""

from __future__ import annotations

import pytest
import torch

from munit.config import ConfigError
from munit.losses import patch_nce_loss
from munit.methods import build_method, config_from_dict
from munit.methods.cut import nce_layers

from helpers import tiny_raw


def cut(**overrides):
    cfg = config_from_dict(tiny_raw(method="cut", gen={"dim": 8, "n_downsample": 2, "n_res": 3}, **overrides))
    method = build_method(cfg)
    return method, method.build_networks()


def images(seed: int, n: int = 2) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def manual_nce(method, nets, source, output, flipped=False):
    """PatchNCE from its parts: patch ids drawn on the source's features and reused for the output's."""
    layers, cfg = method.layers, method.cfg
    keys, ids = nets["patch_f"](nets["gen"].features(source, layers), cfg.nce_patches)
    feats = nets["gen"].features(output, layers)
    queries, _ = nets["patch_f"]([f.flip(3) for f in feats] if flipped else feats, cfg.nce_patches, ids)
    losses = [patch_nce_loss(q, k, len(source), cfg.nce_t).mean() for q, k in zip(queries, keys, strict=True)]
    return sum(losses) / len(losses)


@pytest.mark.parametrize("flipped", [False, True])
def test_the_nce_term_is_the_mean_over_layers_of_patchnce_at_shared_positions(flipped):
    method, nets = cut(nce_patches=16)
    x, y = images(0), images(1)
    torch.manual_seed(5)
    value = method.nce(nets, x, y, flipped)
    torch.manual_seed(5)
    torch.testing.assert_close(value, manual_nce(method, nets, x, y, flipped), rtol=1e-6, atol=0)
    torch.manual_seed(5)
    assert abs(method.nce(nets, x, y, not flipped) - value) > 1e-4  # The flip back matters.
    assert method.nce(nets, x, x).item() < value.item()  # An output equal to its input matches best.


@pytest.mark.parametrize("idt, weight", [(True, 0.5), (False, 1.0)])
def test_cut_averages_its_two_nce_terms_and_fastcut_has_one(idt, weight):
    method, nets = cut(nce_idt=idt, nce_w=4)
    gen_pass = method.generator_pass(nets, images(0), images(1))
    assert set(gen_pass.terms) == ({"nce", "nce_idt"} if idt else {"nce"})
    assert all(term.weight == 4 * weight for term in gen_pass.terms.values())
    assert gen_pass.fakes["dis"].shape == (2, 3, 32, 32)  # G(A) only, not G(B).


def test_fastcut_flips_the_discriminator_fakes_and_the_generator_input_together():
    method, nets = cut(flip_equivariance=True, nce_idt=False)
    x = images(0)
    flips = []
    for iteration in range(12):
        method.iteration = iteration
        torch.manual_seed(iteration)
        fake = method.dis_fakes(nets, x, x)["dis"]
        flips.append(torch.allclose(fake, nets["gen"](x.flip(3))))
        assert flips[-1] or torch.allclose(fake, nets["gen"](x))
        torch.manual_seed(100 + iteration)  # Other draws in between do not change this iteration's choice.
        assert torch.allclose(method.generator_pass(nets, x, x).fakes["dis"], fake)
    assert 0 < sum(flips) < len(flips)


@pytest.mark.parametrize("value, message", [
    ("0,4,x", "expected comma-separated layer numbers"),
    ("0,26", "has layers 0 to 25"),
    ("", "expected comma-separated layer numbers"),
])
def test_bad_nce_layers_are_refused_naming_the_range(value, message):
    with pytest.raises(ConfigError, match=message):
        cut(nce_layers=value)
    method, nets = cut(nce_layers="25")  # The last layer the message names is the generator's last.
    assert torch.equal(nets["gen"].features(images(0), (25,))[0], nets["gen"](images(0)))


def test_auto_layers_are_the_official_ones_for_the_official_generator():
    cfg = config_from_dict({"method": "cut", "gen": {"n_downsample": 2, "n_res": 9}})
    assert nce_layers(cfg) == (0, 4, 8, 12, 16)


def test_identity_nce_needs_the_same_channels():
    with pytest.raises(ConfigError, match="set nce_idt: false"):
        cut(input_dim_b=1)
    method, nets = cut(input_dim_b=1, nce_idt=False)
    assert nets["gen"](images(0)).shape == (2, 1, 32, 32)
