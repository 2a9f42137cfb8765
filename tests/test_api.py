"""The Python API: the README's quick start, each input kind, styles, interpolation, save/load."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from munit import Translator
from munit.errors import UsageError
from munit.training.checkpoint import CheckpointError
from munit.training.loop import train

from helpers import ROOT, tiny_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    torch.manual_seed(0)
    train(tiny_config(max_iter=2), root / "runs" / "demo", torch.device("cpu"), progress=False)
    return root / "runs" / "demo"


@pytest.fixture(scope="module")
def translator(run_dir):
    return Translator.from_pretrained(run_dir, "cpu")


def drawing(size=(40, 36), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_readme_quick_start_runs_as_written(run_dir, monkeypatch):
    block = re.search(r"<!-- quickstart -->\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 5
    monkeypatch.chdir(run_dir.parent.parent)
    drawing().save("drawing.png")
    exec(compile(code, "README quick start", "exec"), {})
    out = Image.open("translated.png")
    assert out.mode == "RGB" and out.size == (36, 32)  # Shorter side to 32 px, sides multiples of 2.


def test_each_input_kind_comes_back_as_the_same_kind(translator):
    pil = drawing()
    out = translator.translate(pil, seed=1)
    assert isinstance(out, Image.Image) and out.size == (36, 32)
    arr = np.asarray(pil)
    assert translator.translate(arr, seed=1).shape == (32, 36, 3)
    assert translator.translate(np.stack([arr, arr]), seed=1).shape == (2, 32, 36, 3)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = translator.translate(x, seed=1)
    assert y.shape == (2, 3, 32, 32) and y.min() >= -1 and y.max() <= 1
    assert translator.translate(x[0], seed=1).shape == (3, 32, 32)
    lst = translator.translate([pil, drawing(seed=2)], seed=1)
    assert isinstance(lst, list) and len(lst) == 2
    # The same seed and input give the same output, whatever the kind.
    torch.testing.assert_close(translator.translate(x[:1], seed=3)[0], translator.translate(x[0], seed=3))


def test_num_styles_style_codes_and_references(translator):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    many = translator.translate(x, num_styles=4, seed=0)
    assert many.shape == (2, 4, 3, 32, 32)
    assert not torch.allclose(many[:, 0], many[:, 1])  # Different styles, different outputs.
    codes = torch.randn(1, translator.cfg.gen.style_dim)
    torch.testing.assert_close(translator.translate(x, style=codes), translator.translate(x, style=codes[0]))
    ref = torch.rand(3, 32, 32) * 2 - 1
    via_ref = translator.translate(x, style=ref)
    via_code = translator.translate(x, style=translator.encode_style(ref, "b"))
    torch.testing.assert_close(via_ref, via_code)
    assert len(translator.translate(drawing(), num_styles=3, seed=0)) == 3
    with pytest.raises(ValueError, match="num_styles or style"):
        translator.translate(x, num_styles=2, style=ref)


def test_parts_compose_to_a_translation(translator):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    style = torch.randn(2, translator.cfg.gen.style_dim)
    content = translator.encode_content(x, "a")
    torch.testing.assert_close(translator.decode(content, "b", style), translator.translate(x, "a2b", style=style))


def test_a_compiled_translator_gives_the_eager_outputs(translator, run_dir):
    compiled = Translator.from_pretrained(run_dir, "cpu").compile()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    style = torch.randn(2, translator.cfg.gen.style_dim)
    eager = translator.translate(x, "a2b", style=style)
    torch.testing.assert_close(compiled.translate(x, "a2b", style=style), eager, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled.translate(x, "a2b", style=style), eager, rtol=1e-4, atol=1e-5)  # Reused.
    assert list(compiled._compiled) == ["a2b"]
    torch.testing.assert_close(compiled.translate(x, "b2a", seed=3), translator.translate(x, "b2a", seed=3),
                               rtol=1e-4, atol=1e-5)


def test_interpolation_runs_from_one_style_to_the_other(translator):
    x = torch.rand(3, 32, 32) * 2 - 1
    s_a, s_b = torch.randn(translator.cfg.gen.style_dim), torch.randn(translator.cfg.gen.style_dim)
    path = translator.interpolate(x, s_a, s_b, steps=5)
    assert path.shape == (5, 3, 32, 32)
    torch.testing.assert_close(path[0], translator.translate(x, style=s_a))
    torch.testing.assert_close(path[-1], translator.translate(x, style=s_b))
    assert len(translator.interpolate(drawing(), s_a, s_b, steps=3)) == 3


def test_save_and_load_pretrained_round_trip_without_pickle(translator, tmp_path):
    folder = translator.save_pretrained(tmp_path / "pretrained", license="mit")
    names = {p.name for p in folder.iterdir()}  # The weights, their config, the model card and its grid.
    assert {"config.json", "model.safetensors", "README.md"} <= names <= {"config.json", "model.safetensors",
                                                                         "README.md", "sample.png"}
    assert not (folder / "model.safetensors").read_bytes().startswith(b"\x80")  # Not a pickle.
    loaded = Translator.from_pretrained(folder, "cpu")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(loaded.translate(x, seed=5), translator.translate(x, seed=5))
    (folder / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        Translator.from_pretrained(folder, "cpu")


def test_clear_errors_for_bad_inputs(translator):
    with pytest.raises(ValueError, match="C = 3"):
        translator.translate(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="uint8"):
        translator.translate(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="translates a2b and b2a, not"):
        translator.translate(drawing(), "a2c")
    with pytest.raises(ValueError, match="1 or 2"):
        translator.translate(torch.rand(2, 3, 32, 32), style=torch.randn(3, translator.cfg.gen.style_dim))


def test_misuse_of_the_api_gets_a_clear_exception(translator):
    dim = translator.cfg.gen.style_dim
    with pytest.raises(ValueError, match="non-empty uint8 array"):
        translator.translate(np.zeros((0, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="C = 3"):
        translator.translate(torch.zeros(0, 3, 32, 32))
    with pytest.raises(ValueError, match=f"style_dim = {dim}, got shape \\(2, {dim + 1}\\)"):
        translator.translate(torch.rand(2, 3, 32, 32), style=torch.randn(2, dim + 1))
    with pytest.raises(TypeError, match="num_styles must be an int, got bool True"):
        translator.translate(drawing(), num_styles=True)
    with pytest.raises(ValueError, match="steps must be between 2 and 256"):
        translator.interpolate(drawing(), torch.randn(dim), torch.randn(dim), steps=10 ** 7)
    with pytest.raises(ValueError, match="num_styles must be between 1 and 256"):
        translator.translate(drawing(), num_styles=10 ** 6)


@pytest.mark.parametrize("damage, message", [
    (lambda m: m.pop("config"), "'config' is missing, expected a dict"),
    (lambda m: m.update(iteration="abc"), "'iteration' is a str, expected a int"),
    (lambda m: m["config"]["gen"].update(dim=10 ** 6), "'gen.dim' is 1000000; expected at most 512"),
    (lambda m: m.update(config=[1, 2]), "'config' is a list, expected a dict"),
])
def test_a_damaged_pretrained_folder_is_named(translator, tmp_path, damage, message):
    import json

    folder = translator.save_pretrained(tmp_path / "pretrained")
    meta = json.loads((folder / "config.json").read_text())
    damage(meta)
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises((CheckpointError, ValueError), match=re.escape(message)):
        Translator.from_pretrained(folder, "cpu")


def test_a_deeply_nested_pretrained_config_is_refused(translator, tmp_path):
    folder = translator.save_pretrained(tmp_path / "pretrained")
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="config.json: not a munit config"):
        Translator.from_pretrained(folder, "cpu")


@pytest.mark.parametrize("make, message", [
    (lambda: torch.zeros(3, 32, 32, dtype=torch.uint8), "expected a float tensor in [-1, 1], got uint8"),
    (lambda: torch.zeros(3, 32, 32, dtype=torch.int64), "got int64"),
    (lambda: torch.zeros(3, 32, 32, dtype=torch.bool), "got bool"),
    (lambda: torch.full((3, 32, 32), 200.0), "expected values in [-1, 1], got 200 to 200"),
    (lambda: torch.full((3, 32, 32), float("nan")), "holds NaN or infinite values"),
    (lambda: torch.zeros(3, 31, 31), "multiples of 2 and at least 16 px for these networks, got 31x31"),
    (lambda: torch.zeros(3, 2, 2), "got 2x2"),
])
def test_tensors_that_are_not_what_the_networks_take_are_refused(translator, make, message):
    """uint8, integer, boolean, 0..255 or NaN tensors were translated into garbage; a 30 x 30 tensor came back
    28 x 28 and a 2 x 2 one failed inside a padding."""
    with pytest.raises(UsageError, match=re.escape(message)):
        translator.translate(make())


def test_other_api_inputs_are_refused_naming_what_was_expected(translator):
    with pytest.raises(UsageError, match="an image of 0x5 pixels has nothing to translate"):
        translator.translate(Image.new("RGB", (0, 5)))
    with pytest.raises(UsageError, match="domain 'c': method 'munit' has the domains a, b"):
        translator.encode_style(drawing(), "c")
    with pytest.raises(UsageError, match="style codes must be finite floats"):
        translator.translate(drawing(), style=torch.full((translator.cfg.gen.style_dim,), float("nan")))
    content = translator.encode_content(drawing(), "a")
    with pytest.raises(UsageError, match=r"content codes of shape \(1, 3, .* do not fit the b decoder"):
        translator.decode(content[:, :3], "b")
    with pytest.raises(UsageError, match="content codes hold NaN"):
        translator.decode(content * float("nan"), "b")
    assert translator.decode(content, "b").shape[1] == 3  # The codes encode_content gives still decode.


def test_cogan_takes_tensors_of_its_size_only_and_no_nan(tmp_path):
    """CoGAN's translation (a latent search) returned NaN for a NaN input, accepted 0..255 tensors, and a
    tensor of another size failed inside torch without the size it takes."""
    train(tiny_config(method="cogan", max_iter=1, latent_search_steps=2), tmp_path / "run", torch.device("cpu"),
          progress=False)
    cogan = Translator.from_pretrained(tmp_path / "run", device="cpu")
    with pytest.raises(UsageError, match="holds NaN"):
        cogan.translate(torch.full((3, 32, 32), float("nan")))
    with pytest.raises(UsageError, match="expected values in"):
        cogan.translate(torch.full((3, 32, 32), 255.0))
    with pytest.raises(UsageError, match="method 'cogan' takes 32x32 tensors, got 48x48"):
        cogan.translate(torch.zeros(3, 48, 48))
    assert cogan.translate(torch.zeros(3, 32, 32)).shape == (3, 32, 32)
