"""BicycleGAN's batch split, as the official code: the first half of a batch goes through both cycles,
the second half's B images are the cLR-GAN discriminator's reals; a batch of one serves both."""

from __future__ import annotations

import pytest
import torch

from munit.methods import build_method

from helpers import tiny_config


def test_a_batch_of_two_is_split_between_the_cycles_and_a_batch_of_one_is_not():
    method = build_method(tiny_config(method="bicyclegan", batch_size=2))
    nets = method.build_networks()
    x_a, x_b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    reals = method.reals(x_a, x_b)
    assert torch.equal(reals["dis_vae"], x_b[:1]) and torch.equal(reals["dis_lr"], x_b[1:])
    gen_pass = method.generator_pass(nets, x_a, x_b)
    assert all(f.shape[0] == 1 for f in gen_pass.fakes.values())
    assert all(f.shape[0] == 1 for f in gen_pass.redraw().values())
    one = method.reals(x_a[:1], x_b[:1])
    assert torch.equal(one["dis_vae"], x_b[:1]) and torch.equal(one["dis_lr"], x_b[:1])
    total, terms = method.discriminator_loss(nets, x_a, x_b, {k: v.detach() for k, v in gen_pass.fakes.items()})
    assert torch.isfinite(total) and set(terms) == {"dis_vae", "dis_lr", "total"}


def test_the_encoder_starts_with_codes_that_differ_between_images():
    """E has no norm: with the configured N(0, 0.02) init every image would get nearly the same code at the
    start (a spread of about 1e-4), and G would learn to ignore a code that carries nothing. He init gives
    codes that differ from the first step; the config's init still applies to G."""
    torch.manual_seed(0)
    method = build_method(tiny_config(method="bicyclegan", init="gaussian"))
    nets = method.build_networks()
    images = torch.rand(8, 3, 32, 32) * 2 - 1
    mu, _ = nets["enc"](images)
    assert mu.std(0).mean() > 0.01
    gen_weights = [m.weight for m in nets["gen"].down.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.std().item() == pytest.approx(0.02, rel=0.3) for w in gen_weights)
