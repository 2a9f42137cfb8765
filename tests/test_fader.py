"""Fader networks (the registry's checks in test_registry.py cover training, resume, export and translation)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from munit.api import Translator
from munit.config import ConfigError, UnusedKeyWarning
from munit.data import batches, build_data
from munit.data.domains import BUILTIN_DOMAINS
from munit.errors import UsageError
from munit.methods.fader import Fader
from munit.nets.fader import Decoder, LatentDiscriminator
from munit.training.loop import train

from helpers import step_inputs, tiny_config

CPU = torch.device("cpu")


def fader(**overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedKeyWarning)
        return tiny_config(method="fader", **{"gen": {"dim": 4, "mlp_dim": 8, "n_downsample": 2}, **overrides})


def test_the_decoder_reads_the_attributes_at_every_layer_and_the_discriminator_one_logit_each():
    dec = Decoder(3, 4, 16, layers=3, attributes=5)
    assert [layer[0].in_channels for layer in dec.layers] == [16 + 5, 8 + 5, 4 + 5]
    z = torch.randn(2, 16, 4, 4, generator=torch.Generator().manual_seed(0))
    dec.eval()
    red, blue = (dec(z, F.one_hot(torch.tensor([k, k]), 5).float()) for k in (0, 3))
    assert red.shape == (2, 3, 32, 32) and red.abs().max() <= 1 and not torch.allclose(red, blue)
    dis = LatentDiscriminator(4, 16, layers=3, size=32, attributes=5, hidden=8, dropout=0.3).eval()
    assert len(dis.convs) == 2 and dis(z).shape == (2, 5)  # 4 x 4 -> 2 x 2 -> 1 x 1, then the logits.


def test_losses_the_discriminator_reads_the_attribute_and_the_encoder_is_pushed_to_another_one():
    cfg = fader(lat_dis_w=0.5, lat_dis_schedule=10)
    method = Fader(cfg)
    nets = method.build_networks()
    x_a, x_b = step_inputs(cfg, 1, 2)
    assert x_b == ()  # No references: sources and their domains only.
    fakes = method.dis_fakes(nets, x_a, x_b)
    assert nets["enc"].training  # The latent was read in eval mode (as the official step), then train again.
    nets["enc"].eval()
    torch.testing.assert_close(fakes["lat_dis"], nets["enc"](x_a[0]))
    nets["enc"].train()
    nets["lat_dis"].eval()  # No dropout: the losses can be recomputed.
    loss, terms = method.discriminator_loss(nets, x_a, x_b, fakes)
    torch.testing.assert_close(loss, F.cross_entropy(nets["lat_dis"](fakes["lat_dis"]), x_a[1]))
    torch.manual_seed(0)
    gen_pass = method.generator_pass(nets, x_a, x_b)
    assert (gen_pass.flipped != x_a[1]).all() and gen_pass.flipped.max() < len(BUILTIN_DOMAINS)
    weights = []
    for it in (0, 5, 10, 20):
        method.iteration = it
        weights.append(method.lat_dis_weight())
    assert weights == [0.0, 0.25, 0.5, 0.5]
    total, logged = method.generator_loss(nets, gen_pass)
    adv = F.cross_entropy(nets["lat_dis"](gen_pass.fakes["lat_dis"]), gen_pass.flipped)
    recon = gen_pass.terms["recon_x"]
    assert recon.weight == cfg.recon_x_w
    torch.testing.assert_close(total, recon.weight * recon.value + 0.5 * adv)


def test_batches_hold_sources_and_their_domains_only():
    cfg = fader(batch_size=3)
    (x, y), refs = next(batches(cfg, build_data(cfg, "train", Fader), 0, CPU, Fader))
    assert x.shape == (3, 3, 32, 32) and y.dtype == torch.long and refs == ()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("fader") / "run"
    train(fader(max_iter=2), run, CPU, progress=False)
    return Translator.from_pretrained(run, device="cpu")


def test_sliders_edit_images_through_the_api(trained):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    blue = trained.edit(x, {"blue": 1.0})
    torch.testing.assert_close(blue, trained.translate(x, "blue"))  # Translating into a domain: its one-hot.
    half = trained.edit(x, {"blue": 0.5, "red": 0.5})
    assert half.shape == x.shape and not torch.allclose(half, blue)
    with pytest.raises(UsageError, match="has the attributes red, yellow, green, blue, purple; not teal"):
        trained.edit(x, {"teal": 1.0})


def test_a_batch_of_one_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="'batch_size' is 1; Fader networks need at least 2"):
        fader(batch_size=1)
