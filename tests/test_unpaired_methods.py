"""What is particular to DiscoGAN, CoGAN, GcGAN and the mode-seeking term (the registry's shared checks
train, resume, save, export and translate each of them; tests/test_registry.py)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from munit.cli import main
from munit.config import ConfigError, UnusedKeyWarning
from munit.losses import mode_seeking_loss
from munit.methods import load_config
from munit.methods.discogan import DEFAULT_RATE, GAN_SHARE, STARTING_RATE, feature_matching_loss
from munit.methods.gcgan import inverse, transform
from munit.training.loop import Trainer

from helpers import ROOT, TINY, batch, tiny_config, write_image

CPU = torch.device("cpu")


def shipped(name: str, *overrides: str):
    return load_config(ROOT / "configs" / f"{name}.yaml", [*TINY, *overrides])


# GcGAN


@pytest.mark.parametrize("kind", ["rot", "vflip"])
def test_gcgan_transforms_are_the_rotation_and_flip_they_claim(kind):
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    y = transform(x, kind)
    expected = torch.rot90(x, -1, dims=(2, 3)) if kind == "rot" else torch.flip(x, dims=(2,))
    assert torch.equal(y, expected)
    assert torch.equal(inverse(y, kind), x)


def test_gcgan_consistency_is_zero_for_an_equivariant_generator_only():
    cfg = shipped("gcgan")
    trainer = Trainer(cfg, CPU)
    x_a, x_b = batch(cfg, 1), batch(cfg, 2)
    assert trainer.method.generator_pass(trainer.nets, x_a, x_b).terms["gc"].value > 1e-4  # A ResNet with 3x3 convs.
    trainer.nets["gen"] = nn.Conv2d(3, 3, 1)  # Pointwise: it commutes with every rotation.
    assert trainer.method.generator_pass(trainer.nets, x_a, x_b).terms["gc"].value < 1e-6


def test_gcgan_refuses_a_quarter_turn_of_non_square_crops():
    with pytest.raises(ConfigError, match="gc_transform is 'rot'.*square crops"):
        shipped("gcgan", "crop_image_width=48", "new_size=48")
    assert shipped("gcgan", "crop_image_width=48", "new_size=48", "gc_transform=vflip").gc_transform == "vflip"


# DiscoGAN


def test_discogan_curriculum_moves_weight_from_gan_to_reconstruction():
    cfg = shipped("discogan", "gan_curriculum=3")
    trainer = Trainer(cfg, CPU)
    x_a, x_b = batch(cfg, 1), batch(cfg, 2)
    weights = []
    for _ in range(4):
        trainer.step(x_a, x_b)
        gen_pass = trainer.method.generator_pass(trainer.nets, x_a, x_b)
        weights.append(gen_pass.terms["cyc_x_a"].weight)
    assert trainer.method.iteration == 3  # The trainer tells the method its iteration before each step.
    assert weights == [STARTING_RATE] * 3 + [DEFAULT_RATE]
    total, logged = trainer.method.generator_loss(trainer.nets, gen_pass)
    expected = sum(DEFAULT_RATE * logged[f"cyc_x_{d}"] + GAN_SHARE * (1 - DEFAULT_RATE) * logged[f"adv_{d}"]
                   + (1 - GAN_SHARE) * (1 - DEFAULT_RATE) * logged[f"fm_{d}"] for d in "ab")
    torch.testing.assert_close(total.detach(), expected)


def test_discogan_running_statistics_come_from_real_inputs_only():
    """The cycle's fakes use their own batch's statistics but leave the running ones, which translation
    uses, to the real inputs: after a generator pass, each generator's running statistics are those of one
    update from its real batch alone."""
    cfg = shipped("discogan")
    trainer = Trainer(cfg, CPU)
    nets, x_a, x_b = trainer.nets, batch(cfg, 1), batch(cfg, 2)
    expected = {name: copy.deepcopy(nets[name]) for name in ("gen_ab", "gen_ba")}
    expected["gen_ab"](x_a)
    expected["gen_ba"](x_b)
    trainer.method.generator_pass(nets, x_a, x_b)
    for name, net in expected.items():
        for (key, want), got in zip(net.state_dict().items(), nets[name].state_dict().values(), strict=True):
            if "running" in key:
                torch.testing.assert_close(got, want, msg=f"{name}.{key}")


def test_feature_matching_compares_batch_means_layer_by_layer():
    real = [torch.zeros(4, 2, 3, 3), torch.ones(4, 1)]
    fake = [torch.zeros(4, 2, 3, 3), torch.zeros(4, 1)]
    fake[0][:2] = 2.0  # Batch mean 1 everywhere in the first layer.
    assert float(feature_matching_loss(real, fake)) == pytest.approx(1.0 + 1.0)
    assert float(feature_matching_loss(real, real)) == 0.0


# CoGAN


def test_cogan_shares_the_generators_first_and_the_discriminators_last_layers():
    trainer = Trainer(shipped("cogan"), CPU)
    nets = trainer.nets
    assert nets["gen_a"].trunk is nets["gen_b"].trunk and nets["gen_a"].head is not nets["gen_b"].head
    assert nets["dis_a"].tail is nets["dis_b"].tail and nets["dis_a"].head is not nets["dis_b"].head
    params = [p for group in trainer.opt_gen.param_groups for p in group["params"]]
    assert len(params) == len({id(p) for p in params})  # Shared weights are optimised once.
    cfg = trainer.cfg
    trainer.step(batch(cfg, 1), batch(cfg, 2))
    z = trainer.method.random_styles(3, CPU)
    assert z.min() >= -1 and z.max() <= 1 and z.shape == (3, cfg.gen.style_dim, 1, 1)


def test_cogan_latent_search_finds_a_code_that_reproduces_the_image():
    cfg = shipped("cogan", "latent_search_steps=150", "latent_search_tol=0", "lr=0.001")
    trainer = Trainer(cfg, CPU)
    for k in range(20):  # Until the batch norms' statistics let z shape the image.
        trainer.step(batch(cfg, 2 * k), batch(cfg, 2 * k + 1))
    method, nets = trainer.method, trainer.nets.eval()
    with torch.no_grad():
        target = nets["gen_a"](method.random_styles(2, CPU, torch.Generator().manual_seed(3)))
        start = ((nets["gen_a"](torch.zeros(2, cfg.gen.style_dim, 1, 1)) - target) ** 2).mean()
        with torch.inference_mode():  # As the API may call it: the search must still get its gradients.
            z = method.fit_latent(nets["gen_a"], target.clone())
        fitted = ((nets["gen_a"](z) - target) ** 2).mean()
    assert z.abs().max() <= 1
    assert fitted < 0.2 * start, (float(start), float(fitted))


def test_cogan_latent_search_stops_at_its_tolerance():
    calls = []
    cfg = shipped("cogan", "latent_search_steps=500", "latent_search_tol=0.5")
    trainer = Trainer(cfg, CPU)
    gen = trainer.nets["gen_a"].eval()
    gen.register_forward_hook(lambda *_: calls.append(1))
    trainer.method.fit_latent(gen, batch(cfg, 1))
    assert 10 <= len(calls) < 500


def test_cogan_refuses_crops_its_generators_cannot_make():
    with pytest.raises(ConfigError, match="CoGAN's generators make square images whose side is a power of two"):
        shipped("cogan", "crop_image_height=48", "crop_image_width=48", "new_size=48")


# Mode seeking


def test_mode_seeking_loss_is_the_inverse_of_the_output_to_code_distance_ratio():
    y1, y2 = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    z1, z2 = torch.zeros(2, 8), torch.full((2, 8), 0.25)
    assert float(mode_seeking_loss(y1, y2, z1, z2)) == pytest.approx(1 / (2 + 1e-5))


@pytest.mark.parametrize("name, terms", [("munit", {"ms_a", "ms_b"}), ("cyclegan_noise", {"ms_a", "ms_b"}),
                                         ("bicyclegan", {"ms"})])
def test_mode_seeking_term_is_logged_only_when_on(name, terms):
    config = "demo" if name == "munit" else name
    for ms_w in (0, 1):
        cfg = shipped(config, f"ms_w={ms_w}")
        logged = Trainer(cfg, CPU).step(batch(cfg, 1), batch(cfg, 2))
        found = {k.removeprefix("gen/") for k in logged if k.startswith("gen/ms")}
        assert found == (terms if ms_w else set())
        assert all(torch.isfinite(logged[f"gen/{t}"]) for t in found)


def test_mode_seeking_pushes_two_styles_outputs_apart():
    """Descending the term alone makes MUNIT's outputs of two fixed styles differ more."""
    cfg = shipped("demo", "ms_w=1", "recon_x_w=0", "recon_s_w=0", "recon_c_w=0")
    torch.manual_seed(0)
    trainer = Trainer(cfg, CPU)
    gen_b, x_a = trainer.nets["gen_b"], batch(cfg, 1)
    s1, s2 = (trainer.method.random_styles(2, CPU, torch.Generator().manual_seed(k)) for k in (1, 2))
    content = trainer.nets["gen_a"].encode_content(x_a).detach()

    @torch.no_grad()
    def spread():
        return float(torch.mean(torch.abs(gen_b.decode(content, s1) - gen_b.decode(content, s2))))

    before = spread()
    optimizer = torch.optim.SGD(gen_b.parameters(), lr=0.05)
    for _ in range(5):
        optimizer.zero_grad()
        mode_seeking_loss(gen_b.decode(content, s1), gen_b.decode(content, s2), s1, s2).backward()
        optimizer.step()
    assert spread() > 1.2 * before


def test_a_unimodal_method_warns_that_it_ignores_ms_w():
    with pytest.warns(UnusedKeyWarning, match="method 'gcgan' does not use .*'ms_w'"):
        shipped("gcgan", "ms_w=1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shipped("cyclegan_noise", "ms_w=1")
    assert not any("ms_w" in str(w.message) for w in caught)


@pytest.mark.parametrize("name", ["discogan", "cogan"])
def test_batch_norm_discriminators_never_judge_fakes_and_reals_in_one_call(name):
    """Fast mode's joint call would mix the batch statistics of fakes and reals; these methods' losses
    must be the same with it asked for as without."""
    cfg = shipped(name)
    trainer = Trainer(cfg, CPU)
    x_a, x_b = batch(cfg, 1), batch(cfg, 2)
    fakes = {k: v.detach() for k, v in trainer.method.dis_fakes(trainer.nets, x_a, x_b).items()}
    joint, _ = trainer.method.discriminator_loss(trainer.nets, x_a, x_b, fakes, joint=True)
    apart, _ = trainer.method.discriminator_loss(trainer.nets, x_a, x_b, fakes, joint=False)
    torch.testing.assert_close(joint, apart)


# The acceptance: train and translate from the command line, on a folder data set.


@pytest.mark.slow  # Three short trainings and translations (about 10 s).
@pytest.mark.parametrize("name", ["discogan", "cogan", "gcgan"])
def test_train_then_translate_on_a_folder_dataset(name, tmp_path):
    for folder, count in (("trainA", 6), ("trainB", 6), ("testA", 2), ("testB", 2)):
        for i in range(count):
            write_image(tmp_path / "data" / folder / f"{i}.png", size=(48, 40), seed=i + 10 * len(folder))
    run = tmp_path / "run"
    sets = [f"--set={item}" for item in [*TINY, "max_iter=3", "snapshot_save_iter=3", "image_save_iter=3",
                                         f"data_root={tmp_path / 'data'}", "latent_search_steps=20"]]
    assert main(["train", "--config", str(ROOT / "configs" / f"{name}.yaml"), "--output", str(run), *sets]) == 0
    assert main(["translate", "--checkpoint", str(run), "--input", str(tmp_path / "data" / "testA"),
                 "--output", str(tmp_path / "out")]) == 0
    outputs = sorted((tmp_path / "out").glob("*.png"))
    assert len(outputs) == 2
    image = np.asarray(Image.open(outputs[0]))
    assert image.shape[2] == 3 and image.std() > 0


def test_tiny_configs_of_the_new_methods_load():
    for name in ("discogan", "cogan", "gcgan"):
        assert tiny_config(method=name).method == name
