"""pix2pixHD: the local enhancer around a global generator, coarse-to-fine training (G1 trained alone,
then loaded into G2 and kept fixed for niter_fix_global iterations), the loss weights, the feature encoder
and the settings it refuses."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from munit.api import Translator
from munit.cli import main
from munit.config import ConfigError
from munit.data import build_split, training_batches
from munit.errors import UsageError
from munit.inference import load_model
from munit.methods import build_method, load_config
from munit.nets.pix2pixhd import FeatureEncoder, LocalEnhancer, global_generator, kmeans, paint, region_means
from munit.training.checkpoint import POINTER, checkpoint_dir, load_checkpoint
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


def test_the_feature_matching_weight_is_feat_w_times_4_over_the_authors_layers_plus_1():
    """The authors' n_layers_D counts the stride-2 convs of a scale; their weight is 4 / (n_layers_D + 1)."""
    cfg = tiny_hd(feat_w=10)
    method = build_method(cfg)
    nets = method.build_networks()
    strided = [m for m in nets["dis"].scales[0].modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    n_layers_d = len(strided)
    assert n_layers_d == cfg.dis.n_layer - 1
    x_a, x_b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    _, terms = method.generator_loss(nets, method.generator_pass(nets, x_a, x_b))
    total = method.generator_loss(nets, method.generator_pass(nets, x_a, x_b))[0]
    torch.testing.assert_close(total, terms["adv"] + 10 * 4 / (n_layers_d + 1) * terms["fm"])


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


# The feature encoder (feat_num): codes averaged per class region, clustered, picked at test time.

def test_codes_are_averaged_over_each_region_and_painted_back():
    regions = torch.zeros(1, 3, 2, 4)
    regions[0, 0, :, :2], regions[0, 1, :, 2:] = 1, 1  # Left half class 0, right half class 1, class 2 absent.
    features = torch.arange(16, dtype=torch.float).reshape(1, 2, 2, 4)
    means = region_means(features, regions)
    left, right = features[0, :, :, :2].mean((1, 2)), features[0, :, :, 2:].mean((1, 2))
    torch.testing.assert_close(means[0], torch.stack([left, right, torch.zeros(2)]))
    painted = paint(means, regions)
    torch.testing.assert_close(painted[0, :, 1, 0], left)
    torch.testing.assert_close(painted[0, :, 0, 3], right)


def test_kmeans_finds_separated_clusters_largest_first():
    gen = torch.Generator().manual_seed(0)
    blobs = [torch.randn(n, 2, generator=gen) * 0.05 + torch.tensor(c) for n, c in ((10, [3.0, 0]), (30, [0, 3.0]),
                                                                                   (20, [-3.0, -3.0]))]
    centres = kmeans(torch.cat(blobs), 3, torch.Generator().manual_seed(1))
    torch.testing.assert_close(centres, torch.stack([blobs[1].mean(0), blobs[2].mean(0), blobs[0].mean(0)]))


def test_a_code_picks_one_centre_of_its_class_and_a_class_without_centres_gets_zeros():
    enc = FeatureEncoder(3, feat_num=2, dim=2, classes=2, clusters=4)
    enc.centres[0, :3] = torch.tensor([[1.0, 1], [2, 2], [3, 3]])
    enc.counts[0] = 3
    picked = enc.pick(torch.tensor([[0.0, 0.5], [0.5, 0.9], [0.99, 0.0]]))
    torch.testing.assert_close(picked[:, 0], torch.tensor([[1.0, 1], [2, 2], [3, 3]]))
    assert not picked[:, 1].any()


FEATURES = {"label_nc": 5, "use_instance": True, "feat_num": 3, "n_clusters": 4}


@pytest.fixture(scope="module")
def featured(tmp_path_factory):
    run = tmp_path_factory.mktemp("features") / "run"
    train(tiny_hd(**FEATURES, max_iter=4, snapshot_save_iter=2, keep_last=0), run, CPU, progress=False)
    return run


def test_the_encoder_learns_with_the_generator_and_its_codes_are_clustered_per_class(featured):
    cfg = tiny_hd(**FEATURES)
    trainer = Trainer(cfg, CPU)
    assert trainer.method.generator_names == ("gen", "enc") and trainer.method.multimodal
    assert trainer.nets["gen"].model[0].conv.in_channels == 5 + 1 + 3  # Classes, boundaries, the codes.
    before = {k: v.clone() for k, v in trainer.nets["enc"].state_dict().items()}
    trainer.step(*next(training_batches(cfg, build_split(cfg, "train", paired=True), 0, CPU, paired=True)))
    assert any(not torch.equal(v, trainer.nets["enc"].state_dict()[k]) for k, v in before.items())
    enc = Translator.from_pretrained(featured, device="cpu").nets["enc"]
    assert enc.counts.tolist() == [4, 4, 4, 4, 4]  # Background and the four shape kinds, each in > 4 images.
    assert all(len(set(map(tuple, enc.centres[c].tolist()))) == 4 for c in range(5))


def test_random_codes_give_different_translations_of_one_label_map(featured):
    model = Translator.from_pretrained(featured, device="cpu")
    labels = build_split(load_model(featured).cfg, "test", paired=True)["a"]
    x = labels[0][None]
    outputs = model.translate(x, num_styles=4, seed=0)
    assert outputs.shape == (1, 4, 3, 32, 32)
    assert not torch.allclose(outputs[0, 0], outputs[0, 1])
    largest = model.method.translate(model.nets, x, "a2b")  # No code: each class's largest cluster.
    torch.testing.assert_close(model.translate(x, style=torch.zeros(5)), largest)
    with pytest.raises(UsageError, match="style_dim = 5"):
        model.translate(x, style=torch.zeros(8))


def test_a_crop_the_encoder_cannot_halve_four_times_is_refused():
    with pytest.raises(ConfigError, match="feature encoder .* multiples of 16"):
        tiny_hd(feat_num=3, new_size=24, crop_image_height=24, crop_image_width=24)


def test_a_resumed_run_fits_the_same_clusters_and_exports_a_graph_with_codes(featured, tmp_path):
    resumed = tmp_path / "resumed"
    shutil.copytree(featured, resumed)
    (checkpoint_dir(resumed) / "ckpt_00000004.pt").unlink()
    (checkpoint_dir(resumed) / POINTER).write_text("ckpt_00000002.pt\n")
    train(load_config(resumed / "config.yaml"), resumed, CPU, resume=True, progress=False)
    whole, again = (load_checkpoint(r / "checkpoints" / "ckpt_00000004.pt")["nets"]["enc"] for r in (featured, resumed))
    assert whole["counts"].sum() > 0
    assert all(torch.equal(whole[k], again[k]) for k in whole)
    assert main(["export", str(featured), "--format", "torchscript", "--output", str(tmp_path / "out")]) == 0
    graph = json.loads((tmp_path / "out" / "export.json").read_text())["graphs"]["translate_a2b"]
    assert graph["inputs"] == ["image_a", "codes"]
    model = load_model(featured)
    x = build_split(model.cfg, "test", paired=True)["a"][0][None]
    codes = torch.tensor([[0.0, 0.3, 0.6, 0.9, 0.1]])
    exported = torch.jit.load(str(tmp_path / "out" / graph["file"]))
    with torch.no_grad():
        expected = model.method.translate(model.nets, x, "a2b", codes[:, :, None, None])
        torch.testing.assert_close(exported(x, codes), expected)


def test_with_an_ema_generator_the_clusters_are_fitted_on_the_averaged_encoder_and_kept_by_both(tmp_path):
    run = train(tiny_hd(**FEATURES, max_iter=2, ema_beta=0.5), tmp_path / "run", CPU, progress=False)
    state = load_checkpoint(next((run / "checkpoints").glob("ckpt_*.pt")))
    live, averaged = state["nets"]["enc"], state["ema"]["enc"]
    assert averaged["counts"].sum() > 0
    assert torch.equal(live["centres"], averaged["centres"]) and torch.equal(live["counts"], averaged["counts"])
    assert not torch.equal(live["model.0.conv.weight"], averaged["model.0.conv.weight"])  # Two encoders, one fit.
    model = load_model(run)  # The averaged networks.
    model.nets["enc"].centres.zero_()
    model.method.fit_inference_state(model.nets, build_split(model.cfg, "train", paired=True))
    torch.testing.assert_close(model.nets["enc"].centres, averaged["centres"])
