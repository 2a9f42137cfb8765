"""StarGAN v2 and the many-domain data it trains on (the registry's checks in test_registry.py cover training,
resume, export and translation through the CLI and the API)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import yaml

from munit.api import Translator
from munit.cli import main
from munit.config import ConfigError, UnusedKeyWarning
from munit.data import batches, build_data, build_split, displays
from munit.data.builtin import HUE_MODES
from munit.data.domains import BUILTIN_DOMAINS, BalancedBatches, domain_names, resolve_domains
from munit.data.images import DataError
from munit.errors import UsageError
from munit.eval.classifier import builtin_labelled, save_classifier, train_classifier
from munit.eval.evaluate import evaluate
from munit.methods.stargan_v2 import StarGANv2
from munit.nets.stargan_v2 import MappingNetwork
from munit.training.loop import Trainer, train

from helpers import params, step_inputs, tiny_config, tiny_raw, write_image

CPU = torch.device("cpu")
SMALL = {"gen": {"dim": 8, "style_dim": 8, "mlp_dim": 16, "latent_dim": 4}, "dis": {"dim": 8}}


def stargan(**overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedKeyWarning)  # The tiny config's MUNIT-only keys.
        return tiny_config(method="stargan_v2", **{**SMALL, **overrides})


def domain_folders(root, counts: dict[str, int], split: str = "train"):
    for name, count in counts.items():
        for i in range(count):
            write_image(root / split / name / f"{i}.png", size=(36, 36), seed=i)
    return root


# The data.

def test_domains_are_the_folders_sorted_or_the_configured_ones(tmp_path):
    domain_folders(tmp_path, {"zebra": 2, "horse": 2, "cat": 3})
    (tmp_path / "train" / ".cache").mkdir()
    assert domain_names(stargan(data_root=str(tmp_path))) == ["cat", "horse", "zebra"]
    cfg = stargan(data_root=str(tmp_path), domains="zebra,cat")
    assert domain_names(cfg) == ["zebra", "cat"]
    data = build_data(cfg, "train", StarGANv2)
    assert data.sizes() == [2, 3]
    assert resolve_domains(stargan(data_root=str(tmp_path))).domains == "cat,horse,zebra"


def test_bad_domain_layouts_are_refused_naming_the_folder(tmp_path):
    domain_folders(tmp_path, {"cat": 1, "dog": 2})
    with pytest.raises(DataError, match=r"train/cat: 1 image\(s\); each domain needs at least 2"):
        build_data(stargan(data_root=str(tmp_path)), "train", StarGANv2)
    with pytest.raises(DataError, match="folder not found"):
        domain_names(stargan(data_root=str(tmp_path / "nowhere")))
    only = domain_folders(tmp_path / "one", {"cat": 3})
    with pytest.raises(DataError, match=r"found 1 domain folder\(s\) \(cat\)"):
        domain_names(stargan(data_root=str(only)))
    with pytest.raises(DataError, match="two/test/cat: image folder not found"):
        build_data(stargan(data_root=str(domain_folders(tmp_path / "two", {"cat": 2, "dog": 2})), domains="cat,dog"),
                   "test", StarGANv2)
    for bad in ("cat", "a,b", "cat,cat", "cat,,dog", "../x,dog"):
        with pytest.raises(ConfigError, match="'domains' is"):
            stargan(domains=bad)


@pytest.mark.parametrize("name, message", [
    ("red,blue", "may not hold commas"), (" cat", "start or end with spaces"), ("dog ", "start or end with spaces"),
    ("a", "the domain names a and b are the two-domain layout's"), ("B", "the domain names a and b"),
])
def test_domain_folders_whose_names_a_run_cannot_keep_are_refused_at_training(tmp_path, capsys, name, message):
    """"red,blue", " cat" or "dog " gave "image folder not found" (the saved names are split on commas and
    stripped); a folder "a" trained, and then translate, sample and export refused the run."""
    domain_folders(tmp_path, {name: 2, "horse": 2})
    domain_folders(tmp_path, {name: 2, "horse": 2}, "test")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**tiny_raw(method="stargan_v2", **SMALL), "data_root": str(tmp_path)}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedKeyWarning)
        assert main(["train", "--config", str(config), "--output", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"train/{name}" in err[0] and message in err[0]
    assert not (tmp_path / "run").exists()


def test_builtin_domains_are_the_hue_modes_with_the_configured_count_each():
    cfg = stargan(builtin_train_size=6)
    data = build_data(cfg, "train", StarGANv2)
    assert domain_names(cfg) == list(BUILTIN_DOMAINS) and data.sizes() == [6] * len(HUE_MODES)
    for mode, part in enumerate(data.parts):
        assert all(part.factors(i).hue_mode == mode for i in range(len(part)))
    with pytest.raises(DataError, match="has the domains red, yellow"):
        build_data(stargan(domains="red,teal"), "train", StarGANv2)


def test_balanced_batches_draw_each_domain_equally_whatever_its_size_and_resume_exactly():
    sizes = [2, 40, 400]
    sampler = iter(BalancedBatches(sizes, batch_size=8, seed=3, pairs=True))
    items = [next(sampler) for _ in range(300)]
    domains = np.bincount([item[0] for b in items for item in b], minlength=3) / (300 * 8)
    assert np.allclose(domains, 1 / 3, atol=0.03), domains
    assert all(i1 < sizes[d] and i2 < sizes[d] for b in items for d, i1, i2, _ in b)
    resumed = iter(BalancedBatches(sizes, batch_size=8, seed=3, pairs=True, start=120))
    assert [next(resumed) for _ in range(5)] == items[120:125]
    halves = [iter(BalancedBatches(sizes, batch_size=4, seed=3, pairs=True, rank=r, world=2)) for r in (0, 1)]
    assert next(halves[0]) + next(halves[1]) == items[0]


def test_training_batches_hold_sources_and_two_references_of_one_target_domain():
    cfg = stargan(batch_size=3)
    (x, y), (x_ref, x_ref2, y_trg, z, z2) = next(batches(cfg, build_data(cfg, "train", StarGANv2), 0, CPU,
                                                         StarGANv2))
    assert x.shape == x_ref.shape == x_ref2.shape == (3, 3, 32, 32)
    assert y.dtype == y_trg.dtype == torch.long and z.shape == z2.shape == (3, 4)
    assert not torch.equal(z, z2) and not torch.equal(x_ref, x_ref2)
    data = build_data(cfg, "train", StarGANv2)
    shown = displays(cfg, data)
    assert set(shown) == {"a", *(f"ref_{d}" for d in BUILTIN_DOMAINS)}


# The networks and losses.

def test_mapping_network_reads_each_sample_with_its_own_domain_head():
    net = MappingNetwork(4, 6, 8, num_domains=3)
    z = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 2, 1, 2])
    s = net(z, y)
    for i, k in enumerate(y.tolist()):
        torch.testing.assert_close(s[i], net(z[i:i + 1], torch.tensor([k]))[0])
    with torch.no_grad():
        net.unshared[2][-1].bias += 1.0
    moved = (net(z, y) - s).abs().sum(1) > 0
    assert moved.tolist() == [False, True, False, True]


def test_r1_penalty_is_half_the_mean_squared_gradient_norm_at_real_images():
    cfg = stargan(r1_w=1.0, gan_w=1.0)
    method = StarGANv2(cfg)
    nets = method.build_networks()
    x_a, x_b = step_inputs(cfg, 1, 2)
    fakes = {"dis": torch.rand_like(x_a[0]) * 2 - 1}
    _, terms = method.discriminator_loss(nets, x_a, x_b, fakes)
    norms = []
    for i in range(len(x_a[0])):
        x = x_a[0][i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(nets["dis"](x, x_a[1][i:i + 1]).sum(), x)
        norms.append(g.pow(2).sum())
    torch.testing.assert_close(terms["r1"], 0.5 * torch.stack(norms).mean())


def test_diversity_weight_decays_linearly_to_zero_and_stays_there():
    method = StarGANv2(stargan(ds_w=2.0, ds_iter=100))
    weights = []
    for it in (0, 50, 100, 150):
        method.iteration = it
        weights.append(method.ds_weight())
    assert weights == [2.0, 1.0, 0.0, 0.0]


def test_iterations_alternate_latent_and_reference_steps_as_the_official_four_steps():
    """Even iterations: latent-guided, training G, the mapping network and the style encoder; odd: reference-
    guided, training G only. Both modes take the same steps (fast mode only skips the D step's re-translation)."""
    changed = {}
    for mode in ("fast", "exact"):
        trainer = Trainer(stargan(train_mode=mode, lr_mapping=1e-3), CPU)
        for iteration in range(2):
            before = params(trainer)
            trainer.step(*step_inputs(trainer.cfg, 1, 2))
            after = params(trainer)
            changed[mode, iteration] = {n for n in trainer.nets if any(
                not torch.equal(before[k], after[k]) for k in before if k.startswith(n + "."))}
            changed[mode, iteration, "params"] = after
    assert changed["fast", 0] == {"generator", "mapping", "style_encoder", "dis"}
    assert changed["fast", 1] == {"generator", "dis"}
    assert changed["exact", 0] == changed["fast", 0] and changed["exact", 1] == changed["fast", 1]
    fast, exact = changed["fast", 1, "params"], changed["exact", 1, "params"]
    for key in fast:  # Not the biases before instance norms: their gradient is rounding noise, which Adam scales up.
        if key.endswith("weight"):
            torch.testing.assert_close(fast[key], exact[key], rtol=1e-4, atol=1e-5, msg=key)


def test_the_mapping_network_has_its_own_learning_rate():
    trainer = Trainer(stargan(lr=1e-4, lr_mapping=1e-6), CPU)
    groups = {g["lr"]: {id(p) for p in g["params"]} for g in trainer.opt_gen.param_groups}
    assert groups[1e-6] == {id(p) for p in trainer.nets["mapping"].parameters()}
    assert {id(p) for p in trainer.nets["generator"].parameters()} <= groups[1e-4]
    assert trainer.opt_gen.param_groups[0]["betas"] == (0.5, 0.999)  # The tiny config's; the shipped one 0, 0.99.


# Translation.

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = tmp_path_factory.mktemp("stargan") / "run"
    train(stargan(max_iter=2), run, CPU, progress=False)
    return run


@pytest.fixture
def trained(run):
    return Translator.from_pretrained(run, device="cpu")


def test_translate_into_any_named_domain_with_random_codes_or_a_reference(trained, tmp_path):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert trained.method.directions == BUILTIN_DOMAINS
    to_blue = trained.translate(x, "blue", num_styles=3, seed=1)
    assert to_blue.shape == (2, 3, 3, 32, 32)
    torch.testing.assert_close(trained.translate(x, "blue", num_styles=3, seed=1), to_blue)
    assert not torch.equal(trained.translate(x, "red", num_styles=3, seed=1), to_blue)  # Another head.
    ref = x[1:]
    by_ref = trained.translate(x, "green", style=ref)
    code = trained.encode_style(ref, "green")
    torch.testing.assert_close(by_ref, trained.translate(x, "green", style=code[0]))
    assert not torch.allclose(code, trained.encode_style(ref, "red"))  # One style head per domain.
    with pytest.raises(UsageError, match="translates to the domains red, yellow, green, blue, purple, not 'a2b'"):
        trained.translate(x, "a2b")
    assert trained.translate(x).shape == x.shape  # Default: the first domain.


def test_evaluation_averages_over_every_ordered_pair_of_domains_or_those_into_one_target(run):
    record = evaluate(run, "builtin-domains", progress=False)
    assert record["direction"] == "all pairs" and len(record["pairs"]) == 20
    for key in ("latent_accuracy", "reference_accuracy", "content_iou", "diversity"):
        mean = np.mean([pair[key] for pair in record["pairs"].values()])
        assert record["metrics"][key] == pytest.approx(mean)
        assert 0 <= record["metrics"][key] <= (2 if key == "diversity" else 1)
    into_blue = evaluate(run, "builtin-domains", direction="blue", progress=False)
    assert sorted(into_blue["pairs"]) == ["green->blue", "purple->blue", "red->blue", "yellow->blue"]
    assert into_blue["pairs"]["red->blue"] == record["pairs"]["red->blue"]  # Seeded: the same draws.
    with pytest.raises(UsageError, match="use 'builtin-domains' for stargan_v2"):
        evaluate(run, "builtin", progress=False)


def test_fid_is_measured_on_each_pair_into_the_target_and_averaged(run, tmp_path):
    """StarGAN v2's protocol: FID of translations from every other domain into each target, then the mean."""
    data = builtin_labelled("b", "train", 64, 32)
    model, _ = train_classifier(data, None, iterations=3, batch_size=8, size=32, progress=False)
    save_classifier(model, data.classes, tmp_path / "clf.pt")
    record = evaluate(run, "fid", classifier=str(tmp_path / "clf.pt"), direction="red", progress=False)
    assert sorted(record["pairs"]) == ["blue->red", "green->red", "purple->red", "yellow->red"]
    assert record["metrics"]["fid"] == pytest.approx(np.mean([p["fid"] for p in record["pairs"].values()]))
    assert len({p["fid"] for p in record["pairs"].values()}) == 4  # Each source domain's own translations.


def test_a_two_domain_method_trains_on_two_named_domains_of_the_same_layout(tmp_path):
    """MUNIT pairwise on StarGAN v2's data: `domains: x,y` makes folders x and y (or two hues) A and B."""
    domain_folders(tmp_path, {"cat": 3, "dog": 4, "wild": 2})
    domain_folders(tmp_path, {"cat": 2, "dog": 2, "wild": 2}, split="test")
    cfg = tiny_config(data_root=str(tmp_path), domains="dog,cat", batch_size=1)
    data = build_split(cfg, "train")
    assert (len(data["a"]), len(data["b"])) == (4, 3) and data["a"].paths[0].parent.name == "dog"
    train(cfg, tmp_path / "run", CPU, progress=False)
    assert Translator.from_pretrained(tmp_path / "run", device="cpu").translate(data["a"][0]).shape == (3, 32, 32)
    hues = build_split(tiny_config(domains="red,blue", builtin_train_size=5), "train")
    assert {hues["a"].factors(i).hue_mode for i in range(5)} == {0}
    assert {hues["b"].factors(i).hue_mode for i in range(5)} == {3}
    for bad in ({"domains": "cat,dog,wild"}, {"domains": "cat,dog", "method": "pix2pix"}):
        with pytest.raises(ConfigError, match="translates between two unpaired image domains"):
            tiny_config(data_root=str(tmp_path), **bad)
