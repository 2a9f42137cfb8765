"""The model card of a saved model: README.md with the Hub's metadata, read by huggingface_hub's own parser,
carrying the method, iterations and the run's evaluations; loading never depends on it (issue 35)."""

from __future__ import annotations

import pytest
import torch

from munit.api import Translator
from munit.eval.evaluate import evaluate
from munit.training.loop import train

from helpers import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("card")
    train(tiny_config(max_iter=2, image_save_iter=2), root / "run", torch.device("cpu"), progress=False)
    evaluate(root / "run", "builtin", progress=False)
    return root / "run"


def test_the_card_is_read_by_the_hubs_parser_with_method_iterations_and_metrics(run, tmp_path):
    hub = pytest.importorskip("huggingface_hub", reason="the Hub's card parser: pip install 'munit[hub]'")
    folder = Translator.from_pretrained(run, device="cpu").save_pretrained(tmp_path / "saved", license="mit")
    card = hub.ModelCard.load(folder / "README.md")
    meta = card.data.to_dict()
    assert meta["library_name"] == "munit" and meta["license"] == "mit" and "munit" in meta["tags"]
    assert meta["munit"]["method"] == "munit" and meta["munit"]["iterations"] == 2
    assert 0 <= meta["munit"]["metrics"]["builtin"]["content_iou"] <= 1
    body = card.text
    assert "Huang, Liu, Belongie, Kautz" in body and "2 iterations at 32x32 px, batch 2" in body
    assert "munit train --config config.yaml" in body and "| `builtin` | a2b |" in body
    assert "![test inputs" in body and (folder / "sample.png").is_file()
    assert (run / "machine.json").is_file() and "min on" in body  # Training time and machine, from the run.


def test_no_licence_is_left_out_with_a_warning_and_loading_needs_no_card(run, tmp_path):
    translator = Translator.from_pretrained(run, device="cpu")
    with pytest.warns(UserWarning, match="no licence given"):
        folder = translator.save_pretrained(tmp_path / "saved")
    assert "license:" not in (folder / "README.md").read_text().split("---")[1]
    (folder / "README.md").write_text("---\nnot: [valid\n---\ngarbage")  # Reading a folder ignores the card.
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.testing.assert_close(Translator.from_pretrained(folder, device="cpu").translate(x, seed=1),
                               translator.translate(x, seed=1))
