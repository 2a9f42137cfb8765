"""The checks every method in the registry passes, with no test code of its own: a method added to
`munit.methods.METHODS` is trained, resumed, saved, exported and translated here (the test ids carry its
name). `test_a_method_added_to_the_registry_gets_every_check` shows it with a toy method."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from munit.api import Translator
from munit.cli import main
from munit.config import ConfigError
from munit.data import build_data, build_split, displays, training_batches
from munit.data.builtin import LABEL_CLASSES
from munit.errors import UsageError
from munit.inference import load_model, random_columns, spread_codes
from munit.losses import recon_loss
from munit.methods import METHODS, load_config
from munit.methods.base import GeneratorPass, Method, Term
from munit.nets.baselines import PatchDis
from munit.training.checkpoint import POINTER, checkpoint_dir, load_checkpoint
from munit.training.loop import Trainer, train

from helpers import ROOT, TINY, export_inputs, params, step_inputs, tiny_config, write_image

CPU = torch.device("cpu")
ITERATIONS = 40  # Enough for the image reconstruction of every method to fall by a fifth.


@dataclass
class Trained:
    name: str
    run: Path  # Trained for ITERATIONS with checkpoints at half and at the end.


def shipped_config(name: str) -> Path | None:
    """The method's config for the built-in data (MUNIT's is the demo's), if the repository ships one."""
    path = ROOT / "configs" / ("demo.yaml" if name == "munit" else f"{name}.yaml")
    return path if path.is_file() else None


def train_tiny(name: str, root: Path) -> Trained:
    """Train `name` with its shipped config shrunk to TINY (or the tiny config, for a method without one)."""
    run_settings = {"max_iter": ITERATIONS, "snapshot_save_iter": ITERATIONS // 2, "keep_last": 0, "lr": 0.001,
                    "image_save_iter": ITERATIONS, "image_display_iter": ITERATIONS}
    config = shipped_config(name)
    cfg = (load_config(config, [*TINY, *(f"{k}={v}" for k, v in run_settings.items())]) if config
           else tiny_config(method=name, **run_settings))
    train(cfg, root / "run", CPU, progress=False)
    return Trained(name, root / "run")


# The checks. Each takes a trained run and a scratch folder.

def check_both_modes_update_every_network(t: Trained, tmp: Path) -> None:
    for mode in ("fast", "exact"):
        cfg = tiny_config(method=t.name, train_mode=mode)
        trainer = Trainer(cfg, CPU)
        before = params(trainer)
        terms = trainer.step(*step_inputs(cfg, 1, 2))
        after = params(trainer)
        assert all(torch.isfinite(v) for v in terms.values()), (mode, terms)
        for name in (*trainer.method.generator_names, *trainer.method.discriminator_names):
            assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(name + ".")), (mode, name)
        assert set(trainer.method.adversarial_terms) == set(trainer.method.discriminator_names)
        assert {f"gen/{a}" for a in trainer.method.adversarial_terms.values()} <= terms.keys()


def check_label_maps(t: Trained, tmp: Path) -> None:
    """A method that takes label maps trains on the built-in ones in both modes; another refuses them."""
    if not METHODS[t.name].takes_labels:
        with pytest.raises(ConfigError, match="translates images, not label maps"):
            tiny_config(method=t.name, label_nc=LABEL_CLASSES)
        return
    for mode in ("fast", "exact"):
        cfg = tiny_config(method=t.name, train_mode=mode, label_nc=LABEL_CLASSES, use_instance=True)
        trainer = Trainer(cfg, CPU)
        x_a, x_b = next(training_batches(cfg, build_split(cfg, "train", paired=True), 0, CPU, paired=True))
        assert x_a.shape[1] == LABEL_CLASSES + 1
        before = params(trainer)
        terms = trainer.step(x_a, x_b)
        after = params(trainer)
        assert all(torch.isfinite(v) for v in terms.values()), (mode, terms)
        assert all(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight")
                   and k.split(".")[0] in ("gen", "dis") and "norm" not in k)


def check_reconstruction_falls(t: Trained, tmp: Path) -> None:
    """The method's image reconstruction terms (recon_x*, cyc_x*: one name per kind of term across methods;
    GcGAN's identity and geometry terms, CUT's PatchNCE) fall by the method's `reconstruction_fall`."""
    prefixes = METHODS[t.name].reconstruction_terms
    if not prefixes:
        pytest.skip(f"{t.name} trains without a reconstruction term (its own tests check what it fits)")
    log = [json.loads(line) for line in (t.run / "log.jsonl").read_text().splitlines()]
    names = [k for k in log[0] if k.startswith(tuple(f"gen/{p}" for p in prefixes))]
    assert names, f"{t.name} logs no image reconstruction term ({', '.join(prefixes)}): {sorted(log[0])}"
    first, last = (np.mean([sum(row[k] for k in names) for row in rows]) for rows in (log[:5], log[-5:]))
    assert last < (1 - METHODS[t.name].reconstruction_fall) * first, (names, first, last)
    assert (t.run / "images" / f"{load_model(t.run).method.directions[0]}_test_{ITERATIONS:08d}.png").is_file()


def check_resume_equals_an_uninterrupted_run(t: Trained, tmp: Path) -> None:
    copy = tmp / "resumed"
    shutil.copytree(t.run, copy)
    (checkpoint_dir(copy) / f"ckpt_{ITERATIONS:08d}.pt").unlink()
    (checkpoint_dir(copy) / POINTER).write_text(f"ckpt_{ITERATIONS // 2:08d}.pt\n")
    train(load_config(copy / "config.yaml"), copy, CPU, resume=True, progress=False)
    whole, resumed = (load_checkpoint(r / "checkpoints" / f"ckpt_{ITERATIONS:08d}.pt") for r in (t.run, copy))
    for net, state in whole["nets"].items():
        for key, value in state.items():
            assert torch.equal(value, resumed["nets"][net][key]), f"{net}.{key}"


def check_same_seed_same_run(t: Trained, tmp: Path) -> None:
    cfg = tiny_config(method=t.name, seed=3)
    runs = []
    for seed in (3, 3, 4):
        trainer = Trainer(tiny_config(method=t.name, seed=seed), CPU)
        torch.manual_seed(0)  # The step's own draws (styles, noise) follow the global generator.
        terms = trainer.step(*step_inputs(cfg, 1, 2))
        runs.append((params(trainer), terms))
    (first, terms_1), (second, terms_2), (other, _) = runs
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert all(torch.equal(terms_1[k], terms_2[k]) for k in terms_1)
    assert any(not torch.equal(first[k], other[k]) for k in first)


def check_activation_checkpointing_changes_no_update(t: Trained, tmp: Path) -> None:
    """checkpoint_activations recomputes blocks in backward: two steps (both modes) update every weight and
    buffer as the plain networks do, to float rounding, and leave the global random state where it was."""
    results = {}
    for level in ("none", "gen", "all"):
        for mode in ("fast", "exact"):
            trainer = Trainer(tiny_config(method=t.name, train_mode=mode, checkpoint_activations=level), CPU)
            torch.manual_seed(0)
            for i in range(2):
                trainer.step(*step_inputs(trainer.cfg, 1 + i, 2 + i))
            state = {f"{n}.{k}": v for n, net in trainer.nets.items() for k, v in net.state_dict().items()}
            results[level, mode] = state, torch.rand(3)
    for (level, mode), (state, after) in results.items():
        plain, plain_after = results["none", mode]
        assert torch.equal(after, plain_after), (level, mode)
        for key, value in plain.items():
            torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-6, msg=f"{level} {mode} {key}")


def check_pretrained_round_trip(t: Trained, tmp: Path) -> None:
    translator = Translator.from_pretrained(t.run, device="cpu")
    folder = translator.save_pretrained(tmp / "pretrained")
    again = Translator.from_pretrained(folder, device="cpu")
    x = torch.rand(2, translator.cfg.input_dim_a, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for direction in translator.method.directions:
        torch.testing.assert_close(again.translate(x, direction, seed=5), translator.translate(x, direction, seed=5),
                                   rtol=0, atol=0)


def check_torchscript_export_matches(t: Trained, tmp: Path) -> None:
    assert main(["export", str(t.run), "--format", "torchscript", "--output", str(tmp)]) == 0
    manifest = json.loads((tmp / "export.json").read_text())
    model = load_model(t.run)
    sizes = [(1, 32, 32)] + ([] if model.method.fixed_size else [(3, 48, 40)])
    for name, (module, names) in model.method.export_graphs(model.nets).items():
        for size in sizes:
            args = export_inputs(names, model, *size)
            with torch.no_grad():
                expected = module(*args.values())
            got = torch.jit.load(str(tmp / manifest["graphs"][name]["file"]))(*args.values())
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4, msg=f"{name} at {size}")


def check_translate_with_cli_and_api(t: Trained, tmp: Path) -> None:
    model = load_model(t.run)
    method = model.method
    image = write_image(tmp / "in.png", size=(40, 36))  # Neither square nor the training size.
    args = ["translate", "--checkpoint", str(t.run), "--input", str(image), "--output", str(tmp / "out"),
            "--direction", method.directions[0], "--seed", "7"]
    if method.multimodal:
        args += ["--num-styles", "2"]
    assert main(args) == 0
    outputs = sorted((tmp / "out").glob("*.png"))
    assert len(outputs) == (2 if method.multimodal else 1)
    width, height = (32, 32) if method.fixed_size else method.inference_size(40, 36, "a")
    expected = (height, width, 3)
    cli = np.asarray(Image.open(outputs[0]))
    assert cli.shape == expected
    api = Translator(model).translate(Image.open(image), method.directions[0], num_styles=2 if method.multimodal
                                      else None, seed=7)
    api = api[0] if isinstance(api, list) else api
    assert np.array_equal(np.asarray(api), cli)  # One image preparation, one style draw for both.
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    for direction in method.directions:
        y = method.translate(model.nets, x, direction)
        assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    if method.multimodal:
        target = method.direction(method.directions[0]).target
        a, b = (method.translate(model.nets, x, method.directions[0], method.styles(model.nets, 3, x.device,
                                                                                    domain=target))
                for _ in range(2))
        assert not torch.equal(a, b)


def check_full_size_translation(t: Trained, tmp: Path) -> None:
    """`translate --full-size` gives an output of the input's own size, in tiles smaller than it, the same as
    the API's translate_full_size; a method whose networks take one size refuses it in one line."""
    model = load_model(t.run)
    method, direction = model.method, model.method.direction(model.method.directions[0])
    image = write_image(tmp / "in.png", size=(70, 50))
    args = ["translate", "--checkpoint", str(t.run), "--input", str(image), "--output", str(tmp / "out"),
            "--direction", direction, "--seed", "7", "--full-size", "--tile", "32", "--overlap", "8"]
    args += ["--num-styles", "1"] if method.multimodal else []
    if method.fixed_size or method.labels(direction.source):
        assert main(args) != 0
        with pytest.raises(UsageError, match="full-size translation"):
            Translator(model).translate_full_size(Image.open(image), direction, tile=32, overlap=8)
        return
    assert main(args) == 0
    (output,) = (tmp / "out").glob("*.png")
    cli = np.asarray(Image.open(output))
    assert cli.shape == (50, 70, 3)
    api = Translator(model).translate_full_size(Image.open(image), direction, seed=7, tile=32, overlap=8)
    assert np.array_equal(np.asarray(api), cli)


def check_sample_grid_codes(t: Trained, tmp: Path) -> None:
    """`munit sample` writes its grid with spread codes (the default) and random ones; a multimodal method's
    random-style columns are found where `random_columns` looks (in the codes' order: reversed codes give
    the columns reversed), each code gives its own output, and `spread_codes` picks distinct draws."""
    model = load_model(t.run)
    method = model.method
    for codes in ("spread", "random"):
        assert main(["sample", "--checkpoint", str(t.run), "--output", str(tmp / codes), "--num-inputs", "2",
                     "--num-styles", "3", "--num-refs", "1", "--codes", codes]) == 0
        assert len(list((tmp / codes).glob("*.png"))) == len(method.directions)
    if not method.multimodal:
        return
    direction = method.direction(method.directions[0])
    shown = displays(model.cfg, build_data(model.cfg, "test", type(method)), 2, 1)
    x, refs = shown[direction.source], shown[f"ref_{direction.target}"]
    styles = method.random_styles(3, CPU, torch.Generator().manual_seed(0))
    with torch.no_grad():
        columns = random_columns(method, model.nets, x, refs, direction, styles)
        reversed_ = random_columns(method, model.nets, x, refs, direction, styles.flip(0))
    assert len(columns) == 3
    for a, b in zip(columns, reversed_[::-1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert (columns[0] - columns[1]).abs().max() > 1e-3, "the code does not change the output"
    picked = spread_codes(method, model.nets, x, refs, direction, 3, torch.Generator().manual_seed(0), pool=6)
    pool = method.random_styles(6, CPU, torch.Generator().manual_seed(0))
    rows = [int(torch.nonzero((pool == code).flatten(1).all(1))[0]) for code in picked]
    assert rows[0] == 0 and len(set(rows)) == 3


def check_translate_explains_what_the_method_cannot_do(t: Trained, tmp: Path, capsys) -> None:
    method = METHODS[t.name]
    image = write_image(tmp / "in.png", size=(32, 32))
    base = ["translate", "--checkpoint", str(t.run), "--input", str(image), "--output", str(tmp / "out")]
    if not method.multimodal:
        assert main(base + ["--num-styles", "3"]) == 2
        assert "gives one output per input" in capsys.readouterr().err
    if not method.reference_guided:
        assert main(base + ["--style", str(image)]) == 2
        assert "cannot copy the style of a reference image" in capsys.readouterr().err
    if "b2a" not in method.directions:
        assert main(base + ["--direction", "b2a"]) == 2
        expected = "translates to the domains" if method.multi_domain else "translates a2b only"
        assert expected in capsys.readouterr().err


CHECKS = [check_both_modes_update_every_network, check_label_maps, check_reconstruction_falls,
          check_resume_equals_an_uninterrupted_run, check_same_seed_same_run,
          check_activation_checkpointing_changes_no_update, check_pretrained_round_trip,
          check_torchscript_export_matches, check_translate_with_cli_and_api, check_full_size_translation,
          check_sample_grid_codes, check_translate_explains_what_the_method_cannot_do]


def run_check(check, trained: Trained, tmp: Path, capsys) -> None:
    if check is check_translate_explains_what_the_method_cannot_do:
        check(trained, tmp, capsys)
    else:
        check(trained, tmp)


@pytest.fixture(scope="module", params=sorted(METHODS))
def trained(request, tmp_path_factory) -> Trained:
    return train_tiny(request.param, tmp_path_factory.mktemp(request.param))


@pytest.mark.slow  # Its fixture trains each method (about 3 s each).
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_every_registered_method(trained, check, tmp_path, capsys):
    run_check(check, trained, tmp_path, capsys)


def test_every_registered_method_ships_a_config():
    for name in METHODS:
        assert shipped_config(name) is not None, name


class Toy(Method):
    """The smallest method there can be: one 3x3 conv from A to B, one PatchGAN, an L1 pull to the input."""

    name = "toy"
    directions = ("a2b",)
    generator_names = ("gen",)
    discriminator_names = ("dis",)
    adversarial_terms = {"dis": "adv"}

    def build_networks(self) -> nn.ModuleDict:
        gen = nn.Sequential(nn.Conv2d(self.cfg.input_dim_a, self.cfg.input_dim_b, 3, padding=1), nn.Tanh())
        return self.init_networks(nn.ModuleDict({"gen": gen, "dis": PatchDis(self.cfg.input_dim_b, 4, 2, "none")}))

    def reals(self, x_a, x_b):
        return {"dis": x_b}

    def dis_fakes(self, nets, x_a, x_b):
        return {"dis": nets["gen"](x_a)}

    def generator_pass(self, nets, x_a, x_b):
        fake = nets["gen"](x_a)
        return GeneratorPass({"recon_x": Term(self.cfg.recon_x_w, recon_loss(fake, x_a))}, {"dis": fake})

    def translate(self, nets, x, direction, style=None):
        self.direction(direction)
        return nets["gen"](x)

    def sample_columns(self, nets, x, refs, direction, styles):
        return [("input", x), ("translation", nets["gen"](x))]


@pytest.mark.slow
def test_a_method_added_to_the_registry_gets_every_check(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(METHODS, "toy", Toy)
    trained = train_tiny("toy", tmp_path / "toy")
    for check in CHECKS:
        (tmp_path / check.__name__).mkdir()
        run_check(check, trained, tmp_path / check.__name__, capsys)
