"""NVlabs/MUNIT interoperability: its checkpoints (incl. PyTorch 0.3 files), configs, export and resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from munit.cli import main
from munit.inference import load_model
from munit.interop.nvlabs_munit import export_reference, from_reference, reference_state
from munit.methods import load_config
from munit.training.checkpoint import CheckpointError
from munit.training.loop import Trainer, train

from helpers import ROOT, golden_path, tiny_config, write_image

REFERENCE_CONFIGS = ["demo_edges2handbags_folder.yaml", "demo_edges2handbags_list.yaml", "edges2handbags_folder.yaml",
                     "edges2shoes_folder.yaml", "summer2winter_yosemite256_folder.yaml",
                     "synthia2cityscape_folder.yaml"]


def pytorch03_file(tmp_path: Path) -> Path:
    """The golden generators as the released PyTorch 0.3 checkpoints have them: with instance-norm running
    statistics in the content encoder, and without the AdaIN buffers."""
    state = torch.load(golden_path("munit_gen.pt"), weights_only=True)
    for d in "ab":
        sd = state[d]
        for key in [k for k in sd if k.startswith("dec.") and "running_" in k]:
            del sd[key]
        for key in [k for k in sd if k.startswith("enc_content.") and k.endswith("conv.weight")]:
            channels = sd[key].shape[0]
            stem = key[: -len("conv.weight")]
            sd[stem + "norm.running_mean"] = torch.randn(channels)
            sd[stem + "norm.running_var"] = torch.rand(channels) + 0.5
    path = tmp_path / "gen_01000000.pt"
    torch.save(state, path)
    return path


def test_pytorch03_checkpoint_loads_and_translates_the_same(tmp_path):
    cases = torch.load(golden_path("cases.pt"), weights_only=True)
    model = from_reference(pytorch03_file(tmp_path), golden_path("config.yaml"))
    assert model.iteration == 1000000
    with torch.no_grad():
        c_a = model.nets["gen_a"].encode(cases["x_a"])[0]
        x_ab = model.nets["gen_b"].decode(c_a, cases["s"])
    torch.testing.assert_close(x_ab, cases["x_ab"], atol=1e-5, rtol=1e-4)


def test_wrong_reference_files_are_named(tmp_path):
    torch.save({"gen": {}, "dis": {}}, tmp_path / "optimizer.pt")
    with pytest.raises(CheckpointError, match=r"optimizer.pt: expected a NVlabs/MUNIT generator checkpoint .* "
                                              r"\(this looks like optimizer.pt\)"):
        from_reference(tmp_path / "optimizer.pt", golden_path("config.yaml"))
    with pytest.raises(CheckpointError, match=r"does not match the configured networks"):
        from_reference(golden_path("munit_gen.pt"), ROOT / "configs" / "edges2shoes_folder.yaml")


def test_translate_cli_with_a_reference_checkpoint(tmp_path):
    image = write_image(tmp_path / "edge.png", size=(64, 64))
    out = tmp_path / "out"
    assert main(["translate", "--checkpoint", str(golden_path("munit_gen.pt")), "--config",
                 str(golden_path("config.yaml")), "--input", str(image), "--output", str(out),
                 "--num-styles", "2"]) == 0
    assert [np.asarray(Image.open(p)).shape for p in sorted(out.glob("*.png"))] == [(64, 64, 3)] * 2


def test_export_and_load_back_give_the_same_outputs(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(max_iter=3, snapshot_save_iter=3), run, torch.device("cpu"), progress=False)
    assert main(["export-reference", str(run), "--output", str(tmp_path / "ref")]) == 0
    names = sorted(p.name for p in (tmp_path / "ref").iterdir())
    assert names == ["dis_00000003.pt", "gen_00000003.pt", "optimizer.pt"]
    ours = load_model(run)
    theirs = from_reference(tmp_path / "ref" / "gen_00000003.pt", run / "config.yaml",
                            dis_path=tmp_path / "ref" / "dis_00000003.pt")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    s = torch.randn(2, 4, 1, 1)
    with torch.no_grad():
        for d in "ab":
            a, b = ours.nets[f"gen_{d}"], theirs.nets[f"gen_{d}"]
            torch.testing.assert_close(a.decode(*a.encode(x)), b.decode(*b.encode(x)), rtol=0, atol=0)
            torch.testing.assert_close(a.decode(a.encode(x)[0], s), b.decode(b.encode(x)[0], s), rtol=0, atol=0)
            torch.testing.assert_close(ours.nets[f"dis_{d}"](x)[0], theirs.nets[f"dis_{d}"](x)[0], rtol=0, atol=0)


def test_training_resumes_from_a_reference_folder(tmp_path):
    train(tiny_config(max_iter=2, snapshot_save_iter=2), tmp_path / "run", torch.device("cpu"), progress=False)
    export_reference(tmp_path / "run", tmp_path / "ref")
    cfg = tiny_config(max_iter=3, lr_policy="step", step_size=2, gamma=0.5)
    trainer = Trainer(cfg, torch.device("cpu"))
    start = reference_state(tmp_path / "ref", cfg)
    trainer.load_state(*start)
    exported = torch.load(tmp_path / "ref" / "gen_00000002.pt", weights_only=True)
    for key, value in trainer.nets["gen_a"].state_dict().items():
        assert torch.equal(value, exported["a"][key]), key
    assert trainer.iteration == 2
    assert trainer.opt_gen.param_groups[0]["lr"] == pytest.approx(5e-5)  # Step policy at iteration 2.
    assert int(trainer.opt_gen.state_dict()["state"][0]["step"]) == 2  # Adam moments came along.
    run = train(cfg, tmp_path / "continued", torch.device("cpu"), progress=False, start_from=start)
    assert (run / "checkpoints" / "ckpt_00000003.pt").is_file()


@pytest.mark.parametrize("name", REFERENCE_CONFIGS)
def test_every_reference_config_trains_one_iteration(tmp_path, monkeypatch, name):
    """The six NVlabs/MUNIT configs, unchanged but for image size (64 px) and data paths."""
    monkeypatch.chdir(tmp_path)
    root = Path("datasets/demo_edges2handbags")
    for split in ("train", "test"):
        for d in "AB":
            for i in range(2):
                write_image(root / f"{split}{d}" / f"{i}.jpg", size=(80, 64), seed=i)
            (root / f"list_{split}{d}.txt").write_text("".join(f"{split}{d}/{i}.jpg\n" for i in range(2)))
    overrides = ["new_size=64", "crop_image_height=64", "crop_image_width=64", "max_iter=1", "num_workers=0",
                 "display_size=2"]
    raw = yaml.safe_load((ROOT / "configs" / name).read_text())
    if "data_root" in raw:
        overrides.append(f"data_root={root}")
    if raw.get("vgg_w", 0) > 0:
        from test_vgg import random_vgg_file

        random_vgg_file(tmp_path / "vgg16-397923af.pth", "torchvision")
        overrides.append(f"vgg_model_path={tmp_path}")
    cfg = load_config(ROOT / "configs" / name, overrides)
    assert cfg.gen.dim == 64 and cfg.dis.dim == 64  # The paper's networks.
    run = train(cfg, tmp_path / "run", torch.device("cpu"), progress=False)
    assert (run / "checkpoints" / "ckpt_00000001.pt").is_file()
