"""Training options a small-data recipe may use: DiffAugment, the hinge loss, a discriminator learning rate."""

from __future__ import annotations

import pytest
import torch

from munit.config import ConfigError
from munit.losses import dis_loss, gen_adv_loss
from munit.nets.diffaug import cutout, diff_augment, parse_policy, translation
from munit.training.loop import Trainer, train

from helpers import batch, params, tiny_config

CPU = torch.device("cpu")


def test_policy_parsing_and_config_refusal():
    assert parse_policy("none") == ()
    assert parse_policy("color, translation,cutout") == ("color", "translation", "cutout")
    with pytest.raises(ConfigError, match=r"'diffaug' is 'colour,cutout'; unknown transform 'colour'"):
        tiny_config(diffaug="colour,cutout")
    with pytest.raises(ConfigError, match=r"'dis.gan_type' is 'hinj'.*did you mean 'hinge'"):
        tiny_config(dis={"gan_type": "hinj"})


def test_translation_shifts_each_image_by_whole_pixels_within_an_eighth():
    torch.manual_seed(0)
    x = torch.arange(1, 1 + 32 * 32, dtype=torch.float32).view(1, 1, 32, 32).repeat(16, 2, 1, 1)
    y = translation(x)
    assert torch.equal(y[:, 0], y[:, 1])  # One shift for all channels of an image.
    shifts = set()
    for i in range(16):
        found = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                 if torch.equal(y[i, 0], _shifted(x[i, 0], dy, dx))]
        assert len(found) == 1, i
        shifts.add(found[0])
    assert len(shifts) > 4  # Drawn per image.


def _shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    out = torch.zeros_like(img)
    h, w = img.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = img[max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    return out


def test_cutout_zeros_one_square_of_half_the_side():
    torch.manual_seed(0)
    x = torch.ones(64, 3, 32, 32)
    y = cutout(x)
    holes = y[:, 0] == 0
    assert torch.equal(holes, (y == 0).all(dim=1))
    for hole in holes:
        rows, cols = hole.any(dim=1).nonzero().flatten(), hole.any(dim=0).nonzero().flatten()
        assert len(rows) <= 16 and len(cols) <= 16
        assert hole.sum() == len(rows) * len(cols)  # A rectangle: the square, cut by the border.
    whole = holes.sum(dim=(1, 2)) == 16 * 16
    assert whole.float().mean() > 0.1 and (holes.sum(dim=(1, 2)) > 0).all()


def test_augmentation_is_differentiable_and_varies_per_image():
    torch.manual_seed(0)
    x = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_()
    y = diff_augment(x, ("color", "translation", "cutout"))
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    same = torch.rand(1, 3, 16, 16).expand(8, -1, -1, -1)
    out = diff_augment(same, ("color",))
    assert (out[1:] - out[:1]).abs().amax(dim=(1, 2, 3)).min() > 1e-3


def test_hinge_loss_values():
    real, fake = [torch.tensor([2.0, 0.5, -1.0])], [torch.tensor([-2.0, 0.0, 1.0])]
    # D: mean(relu(1 - real)) = (0 + 0.5 + 2) / 3; mean(relu(1 + fake)) = (0 + 1 + 2) / 3.
    torch.testing.assert_close(dis_loss(fake, real, "hinge"), torch.tensor(5.5 / 3))
    torch.testing.assert_close(gen_adv_loss(fake, "hinge"), torch.tensor(1.0 / 3))


def test_the_discriminator_sees_augmented_images_only_when_asked():
    cfg = tiny_config(diffaug="cutout")
    trainer = Trainer(cfg, CPU)
    seen = []
    trainer.nets["dis_b"].register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    x_a, x_b = batch(cfg, 1) * 0.5 + 0.5 + 0.1, batch(cfg, 2) * 0.5 + 0.5 + 0.1  # No zero pixel of their own.
    trainer.step(x_a, x_b)
    assert seen and all((s == 0).all(dim=1).any() for s in seen)  # A cut-out hole in every call's images.
    plain = Trainer(tiny_config(), CPU)
    seen.clear()
    plain.nets["dis_b"].register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    plain.step(x_a, x_b)
    assert seen and not any((s == 0).all(dim=1).any() for s in seen)


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_discriminator_learning_rate_scales_its_first_step(mode):
    """Adam's first step moves each weight by about lr: a 4x lr_dis moves the discriminators 4x as far and
    leaves the generators' step unchanged."""
    steps = {}
    for lr_dis in (None, 4e-3):
        cfg = tiny_config(lr=1e-3, lr_dis=lr_dis, weight_decay=0, train_mode=mode)
        trainer = Trainer(cfg, CPU)
        before = params(trainer)
        trainer.step(batch(cfg, 1), batch(cfg, 2))
        after = params(trainer)
        steps[lr_dis] = {which: torch.cat([(after[k] - before[k]).abs().flatten() for k in before
                                           if k.startswith(which)]).median()
                         for which in ("dis", "gen")}
    assert steps[4e-3]["dis"] / steps[None]["dis"] == pytest.approx(4, rel=0.05)
    assert steps[4e-3]["gen"] / steps[None]["gen"] == pytest.approx(1, rel=0.05)


def test_a_run_with_every_option_resumes_bitwise(tmp_path):
    """DiffAugment draws from the run's generator, which checkpoints carry: stopping and resuming gives the
    uninterrupted run's weights exactly; the discriminators' lr follows the lr policy."""
    options = dict(diffaug="color,translation,cutout", lr_dis=4e-3, lr=1e-3, lr_policy="step", step_size=2,
                   max_iter=4, snapshot_save_iter=2, dis={"gan_type": "hinge", "norm": "sn"})
    train(tiny_config(**options), tmp_path / "whole", CPU, progress=False)
    train(tiny_config(**{**options, "max_iter": 2}), tmp_path / "part", CPU, progress=False)
    train(tiny_config(**options), tmp_path / "part", CPU, progress=False, resume=True)
    whole, resumed = (torch.load(tmp_path / run / "checkpoints" / "ckpt_00000004.pt", weights_only=True)
                      for run in ("whole", "part"))
    for net, state in whole["nets"].items():
        for key, value in state.items():
            assert torch.equal(value, resumed["nets"][net][key]), (net, key)
    assert [g["lr"] for g in whole["optimizers"]["dis"]["param_groups"]] == [4e-3 * 0.5 ** 2]
    assert [g["lr"] for g in whole["optimizers"]["gen"]["param_groups"]] == [1e-3 * 0.5 ** 2]


def test_spectral_norm_discriminators_train_in_both_modes():
    """Exact mode calls a discriminator on fakes and on reals before one backward; the power iteration of
    the second call must not change what the first call's backward needs (it raised before)."""
    for mode in ("exact", "fast"):
        cfg = tiny_config(dis={"norm": "sn"}, train_mode=mode)
        trainer = Trainer(cfg, CPU)
        before = params(trainer)
        terms = trainer.step(batch(cfg, 1), batch(cfg, 2))
        assert all(torch.isfinite(v) for v in terms.values())
        assert any(not torch.equal(before[k], v) for k, v in params(trainer).items() if k.startswith("dis_a."))


def test_munit_with_patch_nce_trains_its_heads_and_keeps_them():
    """patch_nce_w adds CUT's term per direction; the heads are generator networks: optimised, saved in
    checkpoints and loaded back for translation, which they do not change."""

    cfg = tiny_config(patch_nce_w=1.0, nce_patches=16, nce_dim=8)
    for mode in ("fast", "exact"):
        trainer = Trainer(tiny_config(patch_nce_w=1.0, nce_patches=16, nce_dim=8, train_mode=mode), CPU)
        assert trainer.method.generator_names == ("gen_a", "gen_b", "patch_a", "patch_b")
        before = params(trainer)
        terms = trainer.step(batch(cfg, 1), batch(cfg, 2))
        after = params(trainer)
        for name in ("patch_a", "patch_b", "gen_a", "gen_b"):
            assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(name + ".")), name
        assert float(terms["gen/nce_a"]) > 0.1 and float(terms["gen/nce_b"]) > 0.1
    plain = Trainer(tiny_config(), CPU)
    assert "gen/nce_a" not in plain.step(batch(cfg, 1), batch(cfg, 2))


def test_patch_nce_term_falls_in_training(tmp_path):
    import json

    cfg = tiny_config(patch_nce_w=1.0, nce_patches=16, nce_dim=8, max_iter=24, lr=0.002, log_iter=1,
                      snapshot_save_iter=24, image_save_iter=24, image_display_iter=24, train_mode="fast")
    run = train(cfg, tmp_path / "run", CPU, progress=False)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    first = sum(e["gen/nce_a"] + e["gen/nce_b"] for e in log[:5])
    last = sum(e["gen/nce_a"] + e["gen/nce_b"] for e in log[-5:])
    assert last < 0.9 * first, (first, last)
    from munit.inference import load_model

    model = load_model(run)
    assert {"patch_a", "patch_b"} <= set(model.nets)
    x = batch(cfg, 3)
    style = torch.zeros(x.shape[0], cfg.gen.style_dim, 1, 1)
    assert model.method.translate(model.nets, x, "a2b", style).shape == x.shape
