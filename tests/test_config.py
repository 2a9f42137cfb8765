"""Config loading: types, choices, ranges, suggestions, overrides, shipped configs."""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from munit.cli import main
from munit.config import Config, ConfigError, UnusedKeyWarning
from munit.methods import METHODS, config_from_dict, load_config

from helpers import ROOT

VARIANTS = {"fastcut": "cut"}


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    # Per-method configs are named after it: <method>.yaml or <data>_<method>.yaml; a published variant
    # that is a setting of a method's keys is named after the variant.
    expected = VARIANTS.get(path.stem) or next((m for m in METHODS if path.stem == m or path.stem.endswith(f"_{m}")),
                                               "munit")
    assert cfg.method == expected


def test_paper_configs_keep_the_paper_values():
    cfg = load_config(ROOT / "configs" / "edges2shoes_folder.yaml")
    assert (cfg.lr, cfg.beta1, cfg.beta2, cfg.weight_decay) == (0.0001, 0.5, 0.999, 0.0001)
    assert (cfg.gan_w, cfg.recon_x_w, cfg.recon_c_w, cfg.recon_s_w) == (1, 10, 1, 1)
    assert (cfg.lr_policy, cfg.step_size, cfg.gamma, cfg.max_iter) == ("step", 100000, 0.5, 1000000)
    assert (cfg.gen.dim, cfg.gen.style_dim, cfg.gen.mlp_dim, cfg.dis.num_scales) == (64, 8, 256, 3)
    assert load_config(ROOT / "configs" / "synthia2cityscape_folder.yaml").vgg_w == 1


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown key 'recon_x_wt'; did you mean 'recon_x_w'\?"):
        config_from_dict({"recon_x_wt": 10})
    with pytest.raises(ConfigError, match=r"unknown key 'gen.dimm'; did you mean 'gen.dim'\?"):
        config_from_dict({"gen": {"dimm": 10}})


@pytest.mark.parametrize("raw, message", [
    ({"batch_size": "two"}, r"'batch_size' must be an integer, got 'two'"),
    ({"batch_size": 1.5}, r"'batch_size' must be an integer"),
    ({"lr": "fast"}, r"'lr' must be a number"),
    ({"flip": "yes"}, r"'flip' must be true or false"),
    ({"gen": 3}, r"'gen' must be a section"),
    ({"batch_size": 0}, r"'batch_size' is 0; expected a value > 0"),
    ({"recon_x_w": -1}, r"'recon_x_w' is -1.0; expected a value >= 0"),
    ({"beta1": 1.0}, r"'beta1' is 1.0; expected a value < 1"),
    ({"gen": {"activ": "relux"}}, r"'gen.activ' is 'relux'; expected one of .* \(did you mean 'relu'\?\)"),
    ({"dis": {"gan_type": "wgan"}}, r"'dis.gan_type' is 'wgan'; expected one of lsgan, nsgan"),
    ({"input_dim_a": 2}, r"'input_dim_a' is 2; expected one of 1, 3, 4"),
    ({"new_size": 64, "crop_image_height": 128}, r"'crop_image_height' is 128; expected at most the resize size"),
    ({"new_size": 32, "crop_image_height": 32, "crop_image_width": 32}, r"expected at least 64 px"),
    ({"crop_image_height": 250}, r"'crop_image_height' is 250; expected a multiple of 2\*\*gen.n_downsample = 4"),
    ({"data_root": "builtin:faces"}, r"'data_root' is 'builtin:faces'; built-in data sets are builtin:shapes"),
    ({"train_mode": "quick"}, r"'train_mode' is 'quick'; expected one of fast, exact"),
    ({"amp": "fp8"}, r"'amp' is 'fp8'; expected one of none, bf16, fp16"),
    ({"max_bad_steps": 0}, r"'max_bad_steps' is 0; expected a value > 0"),
    ({"method": "pix2pix", "new_size": 96, "crop_image_height": 96, "crop_image_width": 64},
     r"method pix2pix \(a U-Net down to 1x1\) needs square crops whose side is a power of 2"),
    ({"method": "cyclegan", "identity_w": 5, "input_dim_a": 1}, r"identity loss needs input_dim_a == input_dim_b"),
    ({"gamma": float("nan")}, r"'gamma' is nan; expected a finite number"),
    ({"recon_x_w": float("inf")}, r"'recon_x_w' is inf; expected a finite number"),
    ({"lr": "nan"}, r"'lr' is 'nan'; expected a finite number"),
    ({"seed": 10 ** 23}, r"'seed' is 100000000000000000000000; expected an integer of at most"),
    ({"max_iter": 10 ** 5000}, r"'max_iter' is an integer of about 5000 digits; expected an integer of at most"),
    ({"lr": 10 ** 400}, r"'lr' must be a number, got an integer of about 400 digits"),
])
def test_bad_values_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw)


def test_yaml_scientific_notation_is_a_number():
    assert config_from_dict({"lr": "1e-4"}).lr == pytest.approx(1e-4)


def test_min_image_size_follows_the_discriminator():
    cfg = config_from_dict({"new_size": 64, "crop_image_height": 64, "crop_image_width": 64})
    assert METHODS[cfg.method].min_image_size(cfg) == 64
    cfg.dis.n_layer, cfg.dis.num_scales = 2, 2
    assert METHODS[cfg.method].min_image_size(cfg) == 16


def test_overrides_and_file_errors(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"gen": {"dim": 16}}))
    cfg = load_config(path, ["gen.dim=8", "max_iter=5", "data_root=builtin:shapes"])
    assert (cfg.gen.dim, cfg.max_iter, cfg.data_root) == (8, 5, "builtin:shapes")
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(path, ["max_iter"])
    with pytest.raises(ConfigError, match=r"missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")
    path.write_text("max_iter: 5\ngen: [1, 2\n")
    with pytest.raises(ConfigError, match="c.yaml: not valid YAML: .* at line 3, column 1") as error:
        load_config(path)
    assert "\n" not in str(error.value)  # One line, not PyYAML's five.
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)


def test_keys_a_method_does_not_use_are_accepted_with_a_warning():
    with pytest.warns(UnusedKeyWarning, match=r"method 'munit' does not use 'recon_kl_w'; accepted and ignored"):
        config_from_dict({"recon_kl_w": 0.01})
    with pytest.warns(UnusedKeyWarning, match=r"method 'unit' does not use 'gen.style_dim'"):
        config_from_dict({"method": "unit", "gen": {"style_dim": 8}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config_from_dict({"recon_kl_w": 0.01}, warn_unused=False)  # Resolved configs list every key.
        config_from_dict({"method": "unit", "recon_kl_w": 0.01})


def test_config_reference_is_generated_from_the_config_and_up_to_date():
    from munit.config_doc import markdown

    text = markdown()
    assert (ROOT / "docs" / "config.md").read_text() == text, "run: python -m munit.config_doc > docs/config.md"
    for f in dataclasses.fields(Config):
        if f.name not in ("gen", "dis"):
            assert f"| `{f.name}` |" in text, f.name
    assert "| `dis.gan_type` | str | `lsgan` | lsgan, nsgan, hinge |" in text


@pytest.mark.parametrize("depth", [20, 500, 5000])
def test_deeply_nested_yaml_is_refused_in_one_line(tmp_path, capsys, depth):
    """500-5000 nested lists in a file or in --set gave a RecursionError of ~3000 lines."""
    nested = "[" * depth + "1" + "]" * depth
    (tmp_path / "deep.yaml").write_text(f"lr: {nested}\n")
    with pytest.raises(ConfigError, match="deep.yaml: nested .*deep.* at most 16") as error:
        load_config(tmp_path / "deep.yaml")
    assert "\n" not in str(error.value)
    (tmp_path / "ok.yaml").write_text("method: munit\n")
    with pytest.raises(ConfigError, match="--set gen.dim: .*nested .*at most 16"):
        load_config(tmp_path / "ok.yaml", [f"gen.dim={nested}"])
    assert main(["train", "--config", str(tmp_path / "deep.yaml"), "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "deep.yaml" in err[0] and not (tmp_path / "run").exists()


def test_yaml_nan_inf_and_alias_bombs_are_refused_quickly(tmp_path):
    """As a user writes them in a file: YAML's .nan/.inf, and an alias bomb (9 x 9 x ... nested lists that
    repr() would expand to gigabytes) in a value; the message stays one short line."""
    (tmp_path / "nan.yaml").write_text("gamma: .nan\n")
    with pytest.raises(ConfigError, match=r"nan.yaml: 'gamma' is nan; expected a finite number"):
        load_config(tmp_path / "nan.yaml")
    with pytest.raises(ConfigError, match=r"'recon_x_w' is inf"):
        load_config(tmp_path / "nan.yaml", ["gamma=0.5", "recon_x_w=.inf"])
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    levels += [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    (tmp_path / "bomb.yaml").write_text("\n".join(levels[:1]) + "\nbomb:\n" + "\n".join(
        "  " + line for line in levels[1:]) + "\nlr: *i\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "bomb.yaml")
    assert time.perf_counter() - start < 5
    assert len(str(error.value)) < 300 and "\n" not in str(error.value)


NUMERIC_KEYS = [f.name for f in dataclasses.fields(Config) if f.type in ("int", "float", "int | None",
                                                                          "float | None")]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(key=st.sampled_from(NUMERIC_KEYS + [f"gen.{k}" for k in ("dim", "style_dim", "n_res", "mlp_dim")]
                           + [f"dis.{k}" for k in ("dim", "n_layer", "num_scales")]),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(10 ** 30),
                       max_value=10 ** 30), st.text(max_size=20), st.booleans(), st.none(),
                       st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                           max_size=2),
                       st.recursive(st.lists(st.none(), max_size=2), lambda inner: st.lists(inner, max_size=2),
                                    max_leaves=50)))
def test_fuzzed_config_values_are_accepted_or_refused_naming_their_key(key, value):
    """Any value of any type (NaN, inf, huge ints, strings, nesting) for a numeric key: a valid config, or a
    ConfigError that names the key; never another exception, never a non-finite number kept."""
    *section, leaf = key.split(".")
    raw = {section[0]: {leaf: value}} if section else {leaf: value}
    try:
        cfg = config_from_dict(raw)
    except ConfigError as e:
        assert repr(key) in str(e) or f"'{key.split('.')[0]}'" in str(e), str(e)
        assert len(str(e)) < 400
        return
    got = getattr(getattr(cfg, section[0]) if section else cfg, leaf)
    assert got is None or (isinstance(got, float) and math.isfinite(got)) or (isinstance(got, int)
                                                                             and abs(got) <= 2 ** 53)


def test_only_true_and_false_are_booleans_in_a_config_file(tmp_path):
    """YAML 1.1 reads yes/no/on/off as booleans; munit's configs take true/false only, as documented."""
    path = tmp_path / "c.yaml"
    path.write_text("flip: yes\n")
    with pytest.raises(ConfigError, match="'flip' must be true or false, got 'yes'"):
        load_config(path)
    path.write_text("flip: false\n")
    assert load_config(path).flip is False
    with pytest.raises(ConfigError, match="'flip' must be true or false, got 'off'"):
        load_config(path, ["flip=off"])


def test_relative_data_paths_are_saved_absolute(tmp_path, monkeypatch):
    """A run's config works from any directory: a relative data_root is resolved where the user typed it."""
    from munit.config import resolve_paths

    monkeypatch.chdir(tmp_path)
    cfg = resolve_paths(config_from_dict({"data_root": "data/h2z", "vgg_model_path": "/abs/vgg.pth"}))
    assert cfg.data_root == str(tmp_path / "data" / "h2z") and cfg.vgg_model_path == "/abs/vgg.pth"
    assert resolve_paths(config_from_dict({"data_root": "builtin:shapes"})).data_root == "builtin:shapes"
