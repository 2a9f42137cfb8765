"""Checkpoints are untrusted: loading never runs code, and a file of another kind, method or shape says so."""

from __future__ import annotations

import json
import os

import pytest
import torch

from munit import Translator
from munit.cli import main
from munit.eval.classifier import load_classifier
from munit.interop.nvlabs_munit import from_reference
from munit.training.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from munit.training.loop import train

from helpers import tiny_config

CPU = torch.device("cpu")


class RunsCode:
    """Unpickling this calls os.system: a full pickle load would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    train(tiny_config(max_iter=2), root / "run", CPU, progress=False)
    return root / "run"


def test_a_pickle_that_runs_code_is_refused_everywhere(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "munit-checkpoint", "nets": RunsCode(marker)}, evil)
    config = tmp_path / "c.yaml"
    config.write_text("gen: {dim: 4}\n")
    for load in (lambda: load_checkpoint(evil), lambda: Translator.from_pretrained(evil, "cpu"),
                 lambda: load_classifier(evil), lambda: from_reference(evil, config)):
        with pytest.raises(CheckpointError, match="refused to load"):
            load()
    assert not marker.exists()


@pytest.mark.parametrize("content, message", [
    (b"", "cannot read checkpoint"),
    (b"\x00" * 64, "cannot read checkpoint"),
    (b"PK\x03\x04 truncated zip", "cannot read checkpoint"),
])
def test_unreadable_files_name_themselves(tmp_path, content, message):
    path = tmp_path / "ckpt_00000001.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"{path}: {message}"):
        load_checkpoint(path)


def test_a_truncated_checkpoint_is_reported(run, tmp_path):
    data = latest_checkpoint(run).read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt: cannot read checkpoint"):
        load_checkpoint(path)


def test_plain_state_dicts_and_other_files_are_not_mistaken_for_checkpoints(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="not a munit checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not a classifier"):
        load_classifier(path)


def test_resuming_with_another_method_names_both(run, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({**json.loads(json.dumps(tiny_config().to_dict())), "method": "cyclegan"}))
    code = main(["train", "--config", str(config), "--output", str(run), "--resume", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "method ('munit' -> 'cyclegan'): cannot change in a run that has started" in err[0]


def test_pretrained_weights_of_other_shapes_list_the_differences(run, tmp_path):
    folder = Translator.from_pretrained(run, "cpu").save_pretrained(tmp_path / "p")
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["gen"]["dim"] = 8
    (folder / "config.json").write_text(json.dumps(meta))
    expected = r"conv.weight has shape \(8, 8, 3, 3\), the config builds \(16, 16, 3, 3\)"
    with pytest.raises(CheckpointError, match=expected):
        Translator.from_pretrained(folder, "cpu")
