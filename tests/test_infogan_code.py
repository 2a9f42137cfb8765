"""InfoGAN's code term for CycleGAN + noise: codes with a categorical part, the recovery loss, heads that
train with the generators, and the settings it refuses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from munit.config import ConfigError, UnusedKeyWarning
from munit.losses import code_recovery_loss
from munit.methods import build_method
from munit.training.loop import Trainer

from helpers import batch, params, tiny_config

CPU = torch.device("cpu")


def test_codes_start_with_a_uniform_one_hot_value_and_continue_gaussian():
    method = build_method(tiny_config(method="cyclegan_noise", info_w=1.0, info_categories=3, gen={"style_dim": 6}))
    codes = method.random_styles(3000, CPU, torch.Generator().manual_seed(0)).flatten(1)
    onehot = codes[:, :3]
    assert torch.equal(onehot.sum(1), torch.ones(3000)) and set(onehot.unique().tolist()) == {0.0, 1.0}
    counts = onehot.sum(0)
    assert counts.min() > 900 and counts.max() < 1100  # Uniform over the three values.
    rest = codes[:, 3:]
    assert abs(rest.mean()) < 0.05 and abs(rest.std() - 1) < 0.05


def test_code_recovery_loss_is_cross_entropy_on_the_categories_plus_squared_error_on_the_rest():
    torch.manual_seed(0)
    predicted, code = torch.randn(4, 5), torch.cat([F.one_hot(torch.tensor([0, 2, 1, 2]), 3).float(),
                                                    torch.randn(4, 2)], 1)
    expected = (F.cross_entropy(predicted[:, :3], torch.tensor([0, 2, 1, 2]))
                + ((predicted[:, 3:] - code[:, 3:]) ** 2).mean())
    torch.testing.assert_close(code_recovery_loss(predicted, code, 3), expected)
    torch.testing.assert_close(code_recovery_loss(predicted, code), ((predicted - code) ** 2).mean())


def test_the_generators_see_their_code():
    """The code reaches the output: a different code, a different translation, and a gradient to the code
    well above rounding (the residual generator's instance norm erased a broadcast code: differences of
    1e-5 and a gradient of float rounding, so no code term could work)."""
    torch.manual_seed(0)
    method = build_method(tiny_config(method="cyclegan_noise", gen={"style_dim": 4}))
    gen = method.build_networks()["gen_ab"]
    x, z = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 4, requires_grad=True)
    y = gen(x, z)
    assert (y - gen(x, torch.randn(2, 4))).abs().mean() > 1e-2
    (grad,) = torch.autograd.grad(y.sum(), z)
    assert grad.abs().max() > 1e-2


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_the_heads_train_with_the_generators_on_the_info_terms(mode):
    cfg = tiny_config(method="cyclegan_noise", info_w=1.0, info_categories=2, train_mode=mode)
    trainer = Trainer(cfg, CPU)
    assert trainer.method.generator_names == ("gen_ab", "gen_ba", "info_a", "info_b")
    before = params(trainer)
    terms = trainer.step(batch(cfg, 1), batch(cfg, 2))
    after = params(trainer)
    assert {"gen/info_a", "gen/info_b"} <= terms.keys() and terms["gen/info_a"] > 0
    for head in ("info_a", "info_b"):
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(head + "."))
    plain = Trainer(tiny_config(method="cyclegan_noise"), CPU)
    assert "info_a" not in plain.nets


def test_settings_it_cannot_use_are_refused_or_warned():
    with pytest.raises(ConfigError, match="a categorical code needs 2 to gen.style_dim"):
        tiny_config(method="cyclegan_noise", info_w=1.0, info_categories=1)
    with pytest.raises(ConfigError, match="a categorical code needs 2 to gen.style_dim"):
        tiny_config(method="cyclegan_noise", info_w=1.0, info_categories=9, gen={"style_dim": 8})
    with pytest.warns(UnusedKeyWarning, match="does not use .*'info_w'"):
        tiny_config(method="cyclegan", info_w=1.0)
