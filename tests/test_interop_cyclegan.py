"""Generator files of the official CycleGAN code: read through the public loading paths, written back from a
munit CycleGAN run, and refused clearly when they are of another kind."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from munit.api import Translator
from munit.cli import main
from munit.interop.cyclegan import config_of, convert
from munit.methods import DIRECTIONS as DIRS
from munit.methods import build_method, config_from_dict
from munit.training.checkpoint import CheckpointError
from munit.training.loop import train

from helpers import ROOT, tiny_config, write_image

GOLDEN = ROOT.parent / "shared" / "golden_cyclegan"


def golden(name: str):
    path = GOLDEN / name
    if not path.is_file():
        pytest.skip(f"{path} not present (it lives in the developers' shared/ folder, not in a clone)")
    return torch.load(path, weights_only=True) if path.suffix == ".pt" else json.loads(path.read_text())


@pytest.mark.parametrize("stale_stats", [False, True], ids=["pytorch-1+", "pytorch-0.3-with-norm-stats"])
def test_an_official_generator_file_gives_the_official_outputs(tmp_path, stale_stats):
    state = dict(golden("networks.pt")["cyclegan_resnet"])
    cases = golden("cases.pt")
    if stale_stats:  # What PyTorch < 0.4 saved for InstanceNorm, and the official loader deletes.
        state |= {"model.2.running_mean": torch.zeros(8), "model.2.running_var": torch.ones(8)}
    torch.save(state, tmp_path / "horse2zebra.pth")
    translator = Translator.from_pretrained(tmp_path / "horse2zebra.pth", device="cpu")
    assert translator.method.directions == ("a2b",)
    torch.testing.assert_close(translator.translate(cases["x"]), cases["cyclegan_resnet_out"], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="translates a2b only"):
        translator.translate(cases["x"], "b2a")
    again = Translator.from_pretrained(translator.save_pretrained(tmp_path / "saved"), device="cpu")
    assert again.method.directions == ("a2b",)  # The saved folder says the file held one generator.
    meta = json.loads((tmp_path / "saved" / "config.json").read_text())
    for directions, works in ((None, True), (["b2a"], True), ([["a2b"]], False), ("a2b", False), ([], False)):
        if directions is None:
            meta.pop("directions")  # A folder saved before directions were recorded: both.
        else:
            meta["directions"] = directions
        (tmp_path / "saved" / "config.json").write_text(json.dumps(meta))
        if works:
            assert Translator.from_pretrained(tmp_path / "saved").method.directions == tuple(directions or DIRS)
        else:
            with pytest.raises(CheckpointError, match="'directions' is"):
                Translator.from_pretrained(tmp_path / "saved")
    torch.testing.assert_close(again.translate(cases["x"]), cases["cyclegan_resnet_out"], rtol=0, atol=1e-5)


def test_the_released_full_size_layout_is_read(tmp_path):
    layout = golden("full_size_layouts.json")["cyclegan_resnet"]
    state = {k: torch.zeros(shape) for k, shape in layout.items()}
    raw = config_of(state)
    assert raw["gen"] == {"dim": 64, "n_res": 9, "n_downsample": 2}
    nets = build_method(config_from_dict(raw, warn_unused=False)).build_networks()
    converted = convert(state, nets["gen_ab"].state_dict(), tmp_path / "x.pth")
    nets["gen_ab"].load_state_dict(converted)


@pytest.mark.parametrize("kind, message", [
    ("pix2pix_unet", "found pix2pix's U-Net generator"),
    ("cut_resnet", "found CUT's antialiased ResNet generator"),
    ("patchgan_instance", "found not a generator of the CycleGAN/pix2pix/CUT code"),
])
def test_a_file_of_another_kind_is_refused_naming_it(tmp_path, kind, message):
    torch.save(golden("networks.pt")[kind], tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match=message):
        Translator.from_pretrained(tmp_path / "model.pth", device="cpu")


def test_a_pickled_object_is_refused_before_any_code_runs(tmp_path):
    torch.save({"model.1.weight": torch.zeros(1), "x": Exception("boom")}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="refused to load"):
        Translator.from_pretrained(tmp_path / "evil.pth", device="cpu")


def test_a_munit_cyclegan_run_exports_to_the_official_layout_and_back(tmp_path, capsys):
    cfg = tiny_config(method="cyclegan", max_iter=2, gen={"dim": 8, "n_downsample": 2, "n_res": 3})
    train(cfg, tmp_path / "run", torch.device("cpu"), progress=False)
    assert main(["export-cyclegan", str(tmp_path / "run"), "--output", str(tmp_path / "official")]) == 0
    run = Translator.from_pretrained(tmp_path / "run", device="cpu")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for file, direction in (("latest_net_G_A.pth", "a2b"), ("latest_net_G_B.pth", "b2a")):
        state = torch.load(tmp_path / "official" / file, weights_only=True)
        if GOLDEN.is_dir():  # The official key names and shapes of this architecture.
            official = golden("networks.pt")["cyclegan_resnet"]
            assert [(k, v.shape) for k, v in state.items()] == [(k, v.shape) for k, v in official.items()]
        imported = Translator.from_pretrained(tmp_path / "official" / file, device="cpu")
        torch.testing.assert_close(imported.translate(x), run.translate(x, direction), rtol=0, atol=0)
    image = write_image(tmp_path / "horse.png", size=(40, 36))
    args = ["translate", "--checkpoint", str(tmp_path / "official" / "latest_net_G_A.pth"), "--input", str(image),
            "--output", str(tmp_path / "out")]
    assert main(args) == 0
    assert np.asarray(Image.open(tmp_path / "out" / "horse_out.png")).shape == (256, 284, 3)  # Shorter side 256.


def test_only_cyclegan_runs_export_to_the_cyclegan_layout(tmp_path, capsys):
    train(tiny_config(max_iter=2), tmp_path / "run", torch.device("cpu"), progress=False)
    assert main(["export-cyclegan", str(tmp_path / "run"), "--output", str(tmp_path / "official")]) == 2
    assert "only cyclegan runs have the official layout" in capsys.readouterr().err
