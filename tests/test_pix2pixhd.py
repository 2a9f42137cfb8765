"""pix2pixHD: the local enhancer around a global generator, coarse-to-fine training (G1 trained alone,
then loaded into G2 and kept fixed for niter_fix_global iterations), the loss weights and the settings it
refuses."""

from __future__ import annotations

import pytest
import torch

from munit.config import ConfigError
from munit.data import build_split, training_batches
from munit.methods import build_method
from munit.nets.pix2pixhd import LocalEnhancer, global_generator
from munit.training.loop import Trainer, train

from helpers import tiny_config

CPU = torch.device("cpu")


def test_the_local_enhancer_adds_a_full_size_branch_to_a_global_generator_without_its_output_layer():
    torch.manual_seed(0)
    g1 = global_generator(6, 3, dim=8, n_downsample=2, n_res=1)
    g2 = LocalEnhancer(6, 3, dim=4, n_downsample=2, n_res=1)
    g2.load_global(g1.state_dict())
    for key, value in g2.global_net.state_dict().items():
        assert torch.equal(value, g1.state_dict()[key]), key
    assert len(g1.state_dict()) > len(g2.global_net.state_dict())  # G1's output conv is left out.
    x = torch.rand(2, 6, 32, 32) * 2 - 1
    y = g2(x)
    assert y.shape == (2, 3, 32, 32) and y.abs().max() <= 1
    # The global branch sees the input at half size: a change in one pixel reaches it through the pooling.
    assert g2.global_net.model(torch.nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False)).shape[2:] \
        == (16, 16)


def tiny_hd(gen: dict | None = None, **overrides):
    return tiny_config(method="pix2pixhd", gen={"dim": 4, "n_downsample": 1, "n_res": 1, **(gen or {})},
                       dis={"dim": 4, "n_layer": 2}, **overrides)


def test_coarse_to_fine_starts_g2_from_the_global_run_and_keeps_g1_fixed_for_niter_fix_global(tmp_path):
    g1_run = train(tiny_hd(gen={"dim": 8}, max_iter=2, new_size=16, crop_image_height=16, crop_image_width=16),
                   tmp_path / "g1", CPU, progress=False)  # G1 at half size and twice the width.
    with pytest.raises(ConfigError, match=r"has gen \{'dim': 8\}; this local enhancer needs its G1 with \{'dim': 16"):
        Trainer(tiny_hd(n_local_enhancers=1, global_from=str(g1_run), gen={"dim": 8}), CPU)
    cfg = tiny_hd(n_local_enhancers=1, global_from=str(g1_run), niter_fix_global=2, lr=0.01)
    trainer = Trainer(cfg, CPU)
    g1_state = torch.load(next((g1_run / "checkpoints").glob("ckpt_*.pt")), weights_only=True)["nets"]["gen"]
    g1 = trainer.nets["gen"].global_net
    assert all(torch.equal(v, g1_state[k]) for k, v in g1.state_dict().items())
    batches = training_batches(cfg, build_split(cfg, "train", paired=True), 0, CPU, paired=True)
    before = {k: v.clone() for k, v in trainer.nets["gen"].state_dict().items()}
    for _ in range(2):
        trainer.step(*next(batches))
    after = trainer.nets["gen"].state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("global_net."))
    assert any(not torch.equal(after[k], v) for k, v in before.items() if k.startswith("back."))
    trainer.step(*next(batches))  # Iteration 2 = niter_fix_global: G1 learns too.
    assert any(not torch.equal(trainer.nets["gen"].state_dict()[k], v) for k, v in before.items()
               if k.startswith("global_net.") and v.is_floating_point())


def test_the_feature_matching_weight_is_feat_w_times_4_over_layers_plus_1():
    cfg = tiny_hd(feat_w=10)
    method = build_method(cfg)
    nets = method.build_networks()
    x_a, x_b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    _, terms = method.generator_loss(nets, method.generator_pass(nets, x_a, x_b))
    total = method.generator_loss(nets, method.generator_pass(nets, x_a, x_b))[0]
    torch.testing.assert_close(total, terms["adv"] + 10 * 4 / 3 * terms["fm"])


def test_global_from_a_run_of_another_method_is_refused(tmp_path):
    other = train(tiny_config(method="pix2pix", max_iter=1, snapshot_save_iter=1), tmp_path / "p2p", CPU,
                  progress=False)
    with pytest.raises(ConfigError, match="is not a run of pix2pixhd's global generator"):
        Trainer(tiny_hd(n_local_enhancers=1, global_from=str(other)), CPU)


@pytest.mark.parametrize("bad, message", [
    ({"n_local_enhancers": 1, "crop_image_height": 30, "crop_image_width": 30, "new_size": 30}, "multiple of 4"),
    ({"n_local_enhancers": 2}, "munit builds 0"),
    ({"global_from": "runs/g1"}, "set n_local_enhancers: 1"),
])
def test_settings_the_generators_cannot_take_are_config_errors(bad, message):
    with pytest.raises(ConfigError, match=message):
        tiny_hd(**bad)
