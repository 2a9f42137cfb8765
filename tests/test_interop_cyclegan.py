"""Generator files of the official CycleGAN, pix2pix and CUT code: read through the public loading paths,
written back from munit runs, and refused clearly when they are of another kind; CUT's PatchNCE against the
official computation."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from munit.api import Translator
from munit.cli import main
from munit.errors import UsageError
from munit.interop.cyclegan import config_of, to_munit
from munit.losses import patch_nce_loss
from munit.methods import DIRECTIONS as DIRS
from munit.methods import build_method, config_from_dict, load_config
from munit.nets.baselines import PatchDis, PatchSampler
from munit.nets.blocks import ResBlocks
from munit.training.checkpoint import CheckpointError
from munit.training.loop import train

from helpers import ROOT, TINY, tiny_config, write_image

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


@pytest.mark.parametrize("kind, method", [("cut_resnet", "cut"), ("pix2pix_unet", "pix2pix")])
def test_cut_and_pix2pix_files_give_the_official_outputs(tmp_path, kind, method):
    torch.save(golden("networks.pt")[kind], tmp_path / "latest_net_G.pth")
    cases = golden("cases.pt")
    translator = Translator.from_pretrained(tmp_path / "latest_net_G.pth", device="cpu")
    assert translator.cfg.method == method and translator.method.directions == ("a2b",)
    torch.testing.assert_close(translator.translate(cases["x"]), cases[f"{kind}_out"], rtol=0, atol=1e-5)


def test_cut_features_patches_and_patchnce_match_the_official_ones(tmp_path):
    torch.save(golden("networks.pt")["cut_resnet"], tmp_path / "cut.pth")
    cases, layers = golden("cases.pt"), (0, 4, 8, 12, 16)
    gen = Translator.from_pretrained(tmp_path / "cut.pth", device="cpu").nets["gen"]
    assert tuple(cases["cut_nce_layers"].tolist()) == layers
    feats = gen.features(cases["x"], layers)
    for i, feat in enumerate(feats):
        torch.testing.assert_close(feat, cases[f"cut_feat_{i}"], rtol=0, atol=1e-5)
    heads = PatchSampler([f.shape[1] for f in feats], 32)
    heads.load_state_dict(golden("networks.pt")["cut_patch_sample_f"])
    ids = [cases[f"cut_patch_ids_{i}"] for i in range(len(layers))]
    queries, used = heads([cases[f"cut_feat_{i}"] for i in range(len(layers))], 16, ids)
    for i, q in enumerate(queries):
        assert used[i] is ids[i]
        torch.testing.assert_close(q, cases[f"cut_feat_q_{i}"], rtol=1e-5, atol=1e-7)
        loss = patch_nce_loss(cases[f"cut_feat_q_{i}"], cases[f"cut_feat_k_{i}"], batch=2, tau=0.07)
        torch.testing.assert_close(loss, cases[f"cut_nce_loss_{i}"], rtol=1e-5, atol=0)


def test_pix2pix_test_noise_is_the_official_train_mode_and_keeps_the_statistics(tmp_path):
    torch.save(golden("networks.pt")["pix2pix_unet"], tmp_path / "facades.pth")
    x = golden("cases.pt")["x"]
    plain = Translator.from_pretrained(tmp_path / "facades.pth", device="cpu")
    noisy = Translator.from_pretrained(tmp_path / "facades.pth", device="cpu", test_noise=True)
    stats = {k: v.clone() for k, v in noisy.nets["gen"].state_dict().items()}
    torch.manual_seed(3)
    out = noisy.translate(x)
    reference = build_method(noisy.cfg).build_networks()["gen"]
    reference.load_state_dict(stats)
    reference.train()  # What the official test.py runs without --eval.
    torch.manual_seed(3)
    torch.testing.assert_close(out, reference(x).detach(), rtol=0, atol=1e-6)
    assert (out - plain.translate(x)).abs().mean() > 0.01  # Not eval mode.
    for key, value in noisy.nets["gen"].state_dict().items():
        assert torch.equal(value, stats[key]), key  # Running statistics untouched.
    assert not noisy.nets["gen"].training
    torch.save(golden("networks.pt")["cyclegan_resnet"], tmp_path / "horse2zebra.pth")
    with pytest.raises(UsageError, match="cyclegan model; only pix2pix"):
        Translator.from_pretrained(tmp_path / "horse2zebra.pth", device="cpu", test_noise=True)


@pytest.mark.parametrize("kind, gen", [("cyclegan_resnet", "gen_ab"), ("cut_resnet", "gen"), ("pix2pix_unet", "gen")])
def test_the_released_full_size_layouts_are_read(tmp_path, kind, gen):
    layout = golden("full_size_layouts.json")[kind]
    state = {k: torch.zeros(shape) for k, shape in layout.items()}
    nets = build_method(config_from_dict(config_of(KIND_OF[kind], state), warn_unused=False)).build_networks()
    nets[gen].load_state_dict(to_munit(state, nets[gen], tmp_path / "x.pth"))
    if kind == "pix2pix_unet":  # unet_256, ngf 64.
        assert len(nets[gen].down) == 8 and nets[gen].down[0][0].out_channels == 64
    else:  # resnet_9blocks, ngf 64.
        blocks = next(m for m in nets[gen].model if isinstance(m, ResBlocks))
        assert len(blocks.model) == 9 and nets[gen].model[0].conv.out_channels == 64


KIND_OF = {"cyclegan_resnet": "resnet", "cut_resnet": "cut", "pix2pix_unet": "unet"}


def test_a_file_of_another_kind_is_refused_naming_it(tmp_path):
    torch.save(golden("networks.pt")["patchgan_instance"], tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match="found not a generator of the CycleGAN/pix2pix/CUT code"):
        Translator.from_pretrained(tmp_path / "model.pth", device="cpu")


def test_a_file_with_a_missing_tensor_is_refused_naming_it(tmp_path):
    state = dict(golden("networks.pt")["pix2pix_unet"])
    del state["model.model.1.model.2.running_var"]
    torch.save(state, tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match=r"model\.model\.1\.model\.2\.running_var missing"):
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


@pytest.fixture(scope="module")
def official_file(tmp_path_factory):
    """The A -> B generator of a tiny munit CycleGAN run, exported in the official layout."""
    root = tmp_path_factory.mktemp("official")
    cfg = tiny_config(method="cyclegan", max_iter=1, gen={"dim": 8, "n_downsample": 2, "n_res": 3})
    train(cfg, root / "run", torch.device("cpu"), progress=False)
    assert main(["export-cyclegan", str(root / "run"), "--output", str(root / "official")]) == 0
    return root / "official" / "latest_net_G_A.pth"


@pytest.mark.parametrize("spoil, message", [
    (lambda w: w.fill_(float("nan")), "holds NaN or infinite values"),
    (lambda w: w.fill_(float("inf")), "holds NaN or infinite values"),
    (lambda w: w.round().long(), "holds int64 values, expected floating point"),
    (lambda w: w > 0, "holds bool values, expected floating point"),
], ids=["nan", "inf", "int64", "bool"])
def test_a_generator_file_with_unusable_weights_is_refused(official_file, tmp_path, capsys, spoil, message):
    """NaN or infinite weights translated to black images, integer or boolean ones to flat grey or white
    ones, with exit 0: a model file must hold finite floating-point weights."""
    state = torch.load(official_file, weights_only=True)
    key = next(k for k, v in state.items() if v.dim() == 4)
    state[key] = spoil(state[key].clone())
    torch.save(state, tmp_path / "model.pth")
    image = write_image(tmp_path / "x.png", size=(32, 32))
    assert main(["translate", "--checkpoint", str(tmp_path / "model.pth"), "--input", str(image),
                 "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.pth" in err[0] and message in err[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_zip_bomb_is_refused_from_its_directory_before_anything_is_unpacked(official_file, tmp_path):
    """A 1.8 MB .pth of deflated zeros was unpacked to 1.9 GB before it was refused. Here a real model
    file with one more tensor of 300 MB of zeros, re-zipped deflated (a 300 kB file), given to `munit
    translate` in its own process: refused in one line, at a peak memory far below the tensor's size."""
    state = torch.load(official_file, weights_only=True)
    state["model.extra"] = torch.zeros(75 * 2 ** 20)
    torch.save(state, tmp_path / "stored.pth")
    del state
    bomb = tmp_path / "bomb.pth"
    with zipfile.ZipFile(tmp_path / "stored.pth") as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for member in src.infolist():
            dst.writestr(member.filename, src.read(member))
    (tmp_path / "stored.pth").unlink()
    assert bomb.stat().st_size < 2 * 2 ** 20
    image = write_image(tmp_path / "x.png", size=(32, 32))
    code = ("import resource, sys; from munit.cli import main; rc = main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
    runs = {}
    for name, file in (("model", official_file), ("bomb", bomb)):
        runs[name] = subprocess.run([sys.executable, "-c", code, "translate", "--checkpoint", str(file), "--input",
                                     str(image), "--output", str(tmp_path / name)], capture_output=True, text=True)
    assert runs["model"].returncode == 0 and runs["bomb"].returncode == 2
    err = runs["bomb"].stderr.strip().splitlines()
    assert len(err) == 1 and "bomb.pth: refused: its zip members unpack to 300 MB" in err[0]
    peak_kb = {name: int(run.stdout.split()[-1]) for name, run in runs.items()}
    assert peak_kb["bomb"] < peak_kb["model"] + 100 * 2 ** 10  # The member alone is 300 MB.


@pytest.mark.parametrize("config", ["cut.yaml", "fastcut.yaml", "pix2pix.yaml"])
def test_munit_cut_and_pix2pix_runs_export_to_the_official_layout_and_back(tmp_path, config):
    side = 64 if config == "pix2pix.yaml" else 32  # The golden U-Net's size (ngf 8, 64 px: 6 levels).
    overrides = [*TINY, "max_iter=2", "gen.norm=bn", "gen.dim=8", f"new_size={side}", f"crop_image_height={side}",
                 f"crop_image_width={side}"]
    train(load_config(ROOT / "configs" / config, overrides), tmp_path / "run", torch.device("cpu"), progress=False)
    assert main(["export-cyclegan", str(tmp_path / "run"), "--output", str(tmp_path / "official")]) == 0
    state = torch.load(tmp_path / "official" / "latest_net_G.pth", weights_only=True)
    if GOLDEN.is_dir() and config == "pix2pix.yaml":  # The official names and shapes of this architecture.
        official = golden("networks.pt")["pix2pix_unet"]
        assert sorted((k, v.shape) for k, v in state.items()) == sorted((k, v.shape) for k, v in official.items())
    elif GOLDEN.is_dir():  # Every official name but the block and layer numbers (1 block here, 3 there).
        official = {re.sub(r"\d+", "N", k) for k in golden("networks.pt")["cut_resnet"]}
        assert {re.sub(r"\d+", "N", k) for k in state} == official
    run = Translator.from_pretrained(tmp_path / "run", device="cpu")
    imported = Translator.from_pretrained(tmp_path / "official" / "latest_net_G.pth", device="cpu")
    assert imported.cfg.method == run.cfg.method
    x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.testing.assert_close(imported.translate(x), run.translate(x), rtol=0, atol=0)


def test_a_small_pix2pix_run_exported_reads_back(tmp_path):
    """A pix2pix run at crop 32 exported with export-cyclegan was refused on reading ("expected at least 48
    px for ... dis.n_layer=4"): the reader gave the file, which holds no discriminator, a default one."""
    overrides = [*TINY, "max_iter=1", "gen.dim=8", "new_size=32", "crop_image_height=32", "crop_image_width=32"]
    train(load_config(ROOT / "configs" / "pix2pix.yaml", overrides), tmp_path / "run", torch.device("cpu"),
          progress=False)
    assert main(["export-cyclegan", str(tmp_path / "run"), "--output", str(tmp_path / "official")]) == 0
    imported = Translator.from_pretrained(tmp_path / "official" / "latest_net_G.pth", device="cpu")
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    run = Translator.from_pretrained(tmp_path / "run", device="cpu")
    torch.testing.assert_close(imported.translate(x), run.translate(x), rtol=0, atol=0)


def test_only_runs_of_methods_with_an_official_layout_export(tmp_path, capsys):
    train(tiny_config(max_iter=2), tmp_path / "run", torch.device("cpu"), progress=False)
    assert main(["export-cyclegan", str(tmp_path / "run"), "--output", str(tmp_path / "official")]) == 2
    assert "only cyclegan, pix2pix, cut runs have an official layout" in capsys.readouterr().err


@pytest.mark.parametrize("kind, in_dim, norm", [("patchgan_instance", 3, "in"), ("patchgan_batch_cond", 6, "bn")])
def test_munit_patchgan_gives_the_official_discriminator_outputs(kind, in_dim, norm):
    official, cases = golden("networks.pt")[kind], golden("cases.pt")
    dis = PatchDis(in_dim, 8, 3, norm).eval()
    state = {k: torch.zeros_like(v) for k, v in dis.state_dict().items()}  # Their batch-norm convs have no bias.
    for block, (conv, bn) in enumerate(zip((0, 2, 5, 8, 11), (None, 3, 6, 9, None), strict=True)):
        for name, value in official.items():
            index, _, param = name.removeprefix("model.").partition(".")
            if int(index) == conv:
                state[f"model.{block}.conv.{param}"] = value
            elif int(index) == bn:
                state[f"model.{block}.norm.{param}"] = value
    dis.load_state_dict(state)
    x = torch.cat([cases["x"], cases["y"]], 1) if in_dim == 6 else cases["x"]
    torch.testing.assert_close(dis(x)[0], cases[f"{kind}_out"], rtol=0, atol=1e-5)
