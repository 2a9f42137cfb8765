"""The command line as a user runs it: train, translate, sample, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from munit.api import Translator
from munit.cli import main
from munit.errors import UsageError
from munit.inference import load_model, prepare

from helpers import ROOT, tiny_raw, write_image

TINY = tiny_raw(builtin_train_size=16, builtin_test_size=4, max_iter=2, keep_last=3, lr_policy="step")


def write_config(path: Path, **overrides) -> Path:
    path.write_text(yaml.safe_dump({**TINY, **overrides}))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    config = write_config(root / "tiny.yaml")
    assert main(["train", "--config", str(config), "--output", str(root / "run"), "--no-progress"]) == 0
    return root / "run"


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_train_writes_a_run(run):
    assert (run / "checkpoints" / "ckpt_00000002.pt").is_file()
    assert (run / "images" / "a2b_test_00000002.png").is_file()


def test_translate_writes_distinct_random_styles(run, tmp_path):
    inputs = tmp_path / "in"
    for i in range(2):
        write_image(inputs / f"img{i}.png", size=(36, 30), seed=i)
    out = tmp_path / "out"
    assert main(["translate", "--checkpoint", str(run), "--input", str(inputs), "--output", str(out),
                 "--num-styles", "3", "--seed", "1"]) == 0
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == [f"img{i}_style{j:02d}.png" for i in range(2) for j in range(3)]
    outputs = [read(f) for f in files[:3]]
    assert outputs[0].shape == (32, 38, 3)  # Shorter side 30 -> 32 (new_size); 36 -> 38.4 -> 38 (even).
    assert all(not np.array_equal(outputs[i], outputs[j]) for i in range(3) for j in range(i))
    again = tmp_path / "again"
    main(["translate", "--checkpoint", str(run), "--input", str(inputs), "--output", str(again),
          "--num-styles", "3", "--seed", "1"])
    assert np.array_equal(read(again / "img0_style01.png"), outputs[1])  # Seeded.


def test_translate_honours_a_reference_style(run, tmp_path):
    source = write_image(tmp_path / "src.png", size=(32, 32), seed=3)
    refs = [write_image(tmp_path / f"ref{i}.png", size=(32, 32), seed=10 + i) for i in range(2)]
    outs = []
    for i, ref in enumerate(refs):
        out = tmp_path / f"out{i}"
        assert main(["translate", "--checkpoint", str(run), "--input", str(source), "--output", str(out),
                     "--style", str(ref), "--direction", "b2a"]) == 0
        outs.append(read(out / "src_ref.png"))
    assert not np.array_equal(outs[0], outs[1])
    model = load_model(run)
    with torch.no_grad():
        style = model.nets["gen_a"].encode_style(prepare(refs[0], model, "a"))
        expected = model.nets["gen_a"].decode(model.nets["gen_b"].encode_content(prepare(source, model, "b")), style)
    expected = ((expected[0].clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.abs(outs[0].astype(int) - expected.astype(int)).max() <= 1


def test_grayscale_and_rgba_domains(tmp_path):
    config = write_config(tmp_path / "gray.yaml", input_dim_a=1, input_dim_b=4)
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "run"), "--no-progress"]) == 0
    gray = write_image(tmp_path / "g.png", mode="L", size=(32, 32))
    rgb = write_image(tmp_path / "c.png", mode="RGB", size=(32, 32))
    assert main(["translate", "--checkpoint", str(tmp_path / "run"), "--input", str(gray),
                 "--output", str(tmp_path / "ab"), "--num-styles", "1"]) == 0
    assert Image.open(tmp_path / "ab" / "g_style00.png").mode == "RGBA"
    assert main(["translate", "--checkpoint", str(tmp_path / "run"), "--input", str(rgb),
                 "--output", str(tmp_path / "ba"), "--num-styles", "1", "--direction", "b2a"]) == 0
    assert Image.open(tmp_path / "ba" / "c_style00.png").mode == "L"


def test_sample_writes_grids(run, tmp_path):
    assert main(["sample", "--checkpoint", str(run), "--output", str(tmp_path), "--num-inputs", "3",
                 "--num-styles", "2", "--num-refs", "2"]) == 0
    grid = Image.open(tmp_path / "a2b_00000002.png")
    pad, label, tile_px = 2, 14, 32
    assert grid.size == (6 * (tile_px + pad) + pad, label + 4 * (tile_px + pad) + pad)


@pytest.mark.parametrize("args, message", [
    (["--set", "gen.dimm=3"], "unknown key 'gen.dimm'; did you mean 'gen.dim'?"),
    (["--set", "batch_size=0"], "'batch_size' is 0; expected a value > 0"),
    (["--set", "data_root=/nonexistent"], "/nonexistent/trainA: image folder not found"),
    (["--device", "tpu"], "--device tpu: not a device; expected cpu, cuda, cuda:N or mps"),
])
def test_bad_train_arguments_give_one_line_errors(tmp_path, capsys, args, message):
    config = write_config(tmp_path / "c.yaml")
    code = main(["train", "--config", str(config), "--output", str(tmp_path / "r"), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("munit: error:")


def test_bad_translate_arguments(run, tmp_path, capsys):
    assert main(["translate", "--checkpoint", str(tmp_path / "nope"), "--input", "x", "--output", "y"]) == 2
    assert "no such checkpoint file or run directory" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert main(["translate", "--checkpoint", str(run), "--input", str(bad), "--output", str(tmp_path)]) == 2
    assert "bad.png: cannot read image" in capsys.readouterr().err
    evil = tmp_path / "evil.pt"
    torch.save({"format": "munit-checkpoint", "x": object()}, evil)
    assert main(["translate", "--checkpoint", str(evil), "--input", str(bad), "--output", str(tmp_path)]) == 2
    assert "refused to load" in capsys.readouterr().err


@pytest.mark.parametrize("size", ["nan", "inf", "-1", "0", "lots"])
def test_app_refuses_an_upload_limit_that_is_not_a_size(run, capsys, size):
    """--max-upload-mb nan or inf gave a traceback; -1 started a page that refused every upload."""
    with pytest.raises(SystemExit) as stop:
        main(["app", "--checkpoint", str(run), "--max-upload-mb", size])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"--max-upload-mb: expected a size in MB above 0 (at most 1048576), got {size}")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the process's memory from /proc")
def test_translate_memory_stays_flat_whatever_num_styles(run, tmp_path):
    """--num-styles 1000000000 drew every code first (a 32 GB allocation, a traceback); now codes are drawn
    64 at a time and outputs appear at once, in bounded memory (a real process, stopped after 20 files)."""
    image = write_image(tmp_path / "x.png", size=(32, 32))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "munit.cli", "translate", "--checkpoint", str(run), "--input",
                             str(image), "--output", str(out), "--num-styles", "1000000000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and len(list(out.glob("*.png"))) < 20:
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()[-500:]
        assert len(list(out.glob("*.png"))) >= 20
        rss_kb = int(re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{proc.pid}/status").read_text()).group(1))
        assert rss_kb < 1_000_000
    finally:
        proc.kill()
        proc.wait()


def test_sample_grid_sizes_are_bounded(run, tmp_path, capsys):
    """--num-inputs (or --num-styles, --num-refs) 1e8 grew memory without end; a grid has at most 64."""
    for flag in ("--num-inputs", "--num-styles", "--num-refs"):
        with pytest.raises(SystemExit):
            main(["sample", "--checkpoint", str(run), "--output", str(tmp_path), flag, "100000000"])
        assert capsys.readouterr().err.strip().endswith("expected 1 to 64 (rows or columns of one grid), got 100000000")


@pytest.mark.parametrize("device", ["xpu", "meta", "hpu", "mps", "cuda:7"])
def test_a_device_this_machine_or_build_lacks_is_refused_in_one_line(run, tmp_path, capsys, device):
    """--device mps, xpu, meta or hpu gave 19-40-line tracebacks on a build without that backend."""
    if device == "mps" and torch.backends.mps.is_available() or device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip(f"{device} exists here")
    image = write_image(tmp_path / "x.png", size=(32, 32))
    config = write_config(tmp_path / "c.yaml")
    for args in (["translate", "--checkpoint", str(run), "--input", str(image), "--output", str(tmp_path / "o")],
                 ["train", "--config", str(config), "--output", str(tmp_path / "r"), "--no-progress"],
                 ["sample", "--checkpoint", str(run), "--output", str(tmp_path / "s")]):
        assert main([*args, "--device", device]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"munit: error: --device {device}: "), err
    with pytest.raises(UsageError, match=f"--device {device}: "):
        Translator.from_pretrained(run, device=device)


def test_two_trainings_into_one_folder_the_second_is_refused_and_a_killed_owner_frees_it(tmp_path, capsys):
    """Two `munit train` into one --output both exited 0 and the folder ended with both seeds' checkpoints
    under one config.yaml. A real first process owns the folder; the second is refused in one line naming
    it, and touches nothing; after kill -9 of the owner the folder can be resumed at once."""
    config = write_config(tmp_path / "c.yaml", max_iter=100000, snapshot_save_iter=2, image_save_iter=100000)
    run = tmp_path / "run"
    owner = subprocess.Popen([sys.executable, "-m", "munit.cli", "train", "--config", str(config), "--output",
                              str(run), "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while owner.poll() is None and time.monotonic() < deadline and not list(run.glob("checkpoints/*.pt")):
            time.sleep(0.2)
        assert owner.poll() is None, owner.stderr.read().decode()[-500:]
        config_before = (run / "config.yaml").read_bytes()
        assert main(["train", "--config", str(write_config(tmp_path / "other.yaml", seed=5)), "--output", str(run),
                     "--resume", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"another munit train writes into this folder (pid {owner.pid} on" in err[0]
        assert (run / "config.yaml").read_bytes() == config_before
    finally:
        owner.kill()
        owner.wait()
    assert (run / ".munit-lock").is_file()  # The file stays; the lock went with the process.
    assert main(["train", "--config", str(write_config(tmp_path / "again.yaml", max_iter=4, snapshot_save_iter=2)),
                 "--output", str(run), "--resume", "--no-progress"]) == 0


def test_resume_drops_log_lines_it_cannot_read(tmp_path, capsys):
    """--resume with a log.jsonl line holding Infinity, non-UTF-8 bytes or 5,000 nested lists gave 25-36-line
    tracebacks; those lines are dropped with a warning and the run goes on."""
    config = write_config(tmp_path / "c.yaml", max_iter=2, snapshot_save_iter=2)
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--output", str(run), "--no-progress"]) == 0
    log = run / "log.jsonl"
    good = log.read_bytes()
    log.write_bytes(good + b'{"iteration": Infinity}\n' + b'\xff\xfe{"iteration": 1, "x": "\xc3("}\n'
                    + b"[" * 5000 + b"\n" + b'{"iteration": 1e400}\n')
    capsys.readouterr()
    again = write_config(tmp_path / "again.yaml", max_iter=4, snapshot_save_iter=2)
    assert main(["train", "--config", str(again), "--output", str(run), "--resume", "--no-progress"]) == 0
    assert "log.jsonl: dropped 4 unreadable line(s)" in capsys.readouterr().err
    text = log.read_text()  # UTF-8 again, and munit's lines only.
    assert text.startswith(good.decode()) and [json.loads(line)["iteration"] for line in text.splitlines()][-1] == 4


def test_networks_too_large_as_a_whole_are_refused_before_any_allocation(run, tmp_path, capsys):
    """gen.dim=512 with gen.n_downsample=5, each within its own limit, allocated 8 GB and failed inside the
    allocator; a small checkpoint whose config implies such networks did the same on loading."""
    config = write_config(tmp_path / "c.yaml")
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "r"), "--no-progress",
                 "--set", "gen.dim=512", "--set", "gen.n_downsample=5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "these settings build networks of" in err[0] and "at most 400 M" in err[0]
    assert not (tmp_path / "r").exists()
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "r"), "--no-progress", "--set",
                 "new_size=16384", "--set", "crop_image_height=16384", "--set", "crop_image_width=16384"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at 16384x16384 px makes" in err[0] and "GB of activations" in err[0]
    state = torch.load(run / "checkpoints" / "ckpt_00000002.pt", weights_only=True)
    state["config"]["gen"].update(dim=512, n_downsample=5)
    torch.save(state, tmp_path / "huge.pt")
    image = write_image(tmp_path / "x.png", size=(32, 32))
    assert main(["translate", "--checkpoint", str(tmp_path / "huge.pt"), "--input", str(image), "--output",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "huge.pt (embedded config): these settings build networks of" in err[0]


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(cmd in out for cmd in ("train", "translate", "sample"))


def test_command_reference_is_generated_from_the_parser_and_up_to_date():
    from munit.cli_doc import markdown

    text = markdown()
    assert (ROOT / "docs" / "cli.md").read_text() == text, "run: python -m munit.cli_doc > docs/cli.md"
    for command in ("train", "translate", "sample", "evaluate", "train-classifier", "export", "app",
                    "export-reference"):
        assert f"## munit {command}\n" in text, command


def test_resume_applies_a_changed_lr_and_refuses_a_changed_network(tmp_path, capsys):
    """`--resume --set lr=...` trains at the new rate (it was recorded and ignored); a change that cannot
    apply to a started run is refused before anything is written."""
    config, out = write_config(tmp_path / "c.yaml", lr=0.0001, lr_policy="constant"), tmp_path / "run"
    assert main(["train", "--config", str(config), "--output", str(out), "--no-progress"]) == 0
    assert main(["train", "--config", str(config), "--output", str(out), "--no-progress", "--resume",
                 "--set", "lr=0.005", "--set", "max_iter=4"]) == 0
    assert "lr 0.0001 -> 0.005" in capsys.readouterr().err
    state = torch.load(out / "checkpoints" / "ckpt_00000004.pt", weights_only=True)
    assert [g["lr"] for opt in state["optimizers"].values() for g in opt["param_groups"]] == [0.005, 0.005]
    assert yaml.safe_load((out / "config.yaml").read_text())["lr"] == 0.005
    before = (out / "config.yaml").read_text()
    code = main(["train", "--config", str(config), "--output", str(out), "--no-progress", "--resume",
                 "--set", "max_iter=6", "--set", "gen.dim=8"])
    err = capsys.readouterr().err
    assert code == 2 and "gen.dim (4 -> 8): cannot change in a run that has started" in err
    assert err.count("\n") == 1
    assert (out / "config.yaml").read_text() == before
    assert not (out / "checkpoints" / "ckpt_00000006.pt").exists()


def test_train_never_overwrites_a_config_it_did_not_write(tmp_path, capsys):
    """`--output DIR` where DIR/config.yaml is the user's own (commented) config: refused, file intact."""
    run = tmp_path / "exp"
    run.mkdir()
    mine = write_config(run / "config.yaml")
    mine.write_text("# my notes on this experiment\n" + mine.read_text())
    text = mine.read_text()
    code = main(["train", "--config", str(mine), "--output", str(run), "--no-progress"])
    assert code == 2 and "config.yaml: a file munit did not write" in capsys.readouterr().err
    assert mine.read_text() == text
    assert not (run / "checkpoints").exists()


def test_translate_mirrors_subfolders_so_no_output_overwrites_another(run, tmp_path, capsys):
    """x.png, sub1/x.png, sub2/x.jpg and sub2/x.png used to give 4 x 2 "written" images in 2 files."""
    inputs = tmp_path / "in"
    for i, name in enumerate(["x.png", "sub1/x.png", "sub2/x.jpg", "sub2/x.png"]):
        write_image(inputs / name, size=(36, 30), seed=i)
    out = tmp_path / "out"
    assert main(["translate", "--checkpoint", str(run), "--input", str(inputs), "--output", str(out),
                 "--num-styles", "2", "--seed", "1"]) == 0
    files = sorted(str(f.relative_to(out)) for f in out.rglob("*.png"))
    assert files == sorted(f"{stem}_style{j:02d}.png" for stem in ("x", "sub1/x", "sub2/x.jpg", "sub2/x.png")
                           for j in range(2))
    assert "wrote 8 " in capsys.readouterr().out
    first = read(out / "x_style00.png")
    assert not np.array_equal(first, read(out / "sub1" / "x_style00.png"))  # Different inputs, both kept.


def test_translate_gives_every_input_its_own_outputs_whatever_the_names(run, tmp_path, capsys):
    """x.png, x.jpg and x.png.png gave "wrote 6 images" and left 4: x.png's outputs (named by its
    extension, as x.jpg shares its stem) were overwritten by x.png.png's (stem x.png)."""
    inputs = tmp_path / "in"
    names = ["x.png", "x.jpg", "x.png.png", "x.png~2.png"]
    for i, name in enumerate(names):
        write_image(inputs / name, size=(36, 30), seed=i)
    out = tmp_path / "out"
    assert main(["translate", "--checkpoint", str(run), "--input", str(inputs), "--output", str(out),
                 "--num-styles", "2", "--seed", "1"]) == 0
    files = sorted(out.glob("*.png"))
    assert len(files) == 8 and "wrote 8 " in capsys.readouterr().out
    assert len({read(f).tobytes() for f in files}) == 8  # Eight different images: none overwritten.


def test_an_output_path_that_is_a_file_gives_one_line(run, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    image = write_image(tmp_path / "x.png")
    config = write_config(tmp_path / "c.yaml")
    for args in (["translate", "--checkpoint", str(run), "--input", str(image), "--output", str(blocker)],
                 ["train", "--config", str(config), "--output", str(blocker), "--no-progress"],
                 ["export-reference", str(run), "--output", str(blocker)]):
        code = main(args)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and str(blocker) in err[0], (args[0], err)
    assert blocker.read_text() == "mine"


@pytest.mark.parametrize("seed", ["1e23", "100000000000000000000000", "-1"])
def test_a_seed_out_of_range_is_refused_naming_the_flag(run, tmp_path, capsys, seed):
    image = write_image(tmp_path / "x.png")
    with pytest.raises(SystemExit) as done:
        main(["translate", "--checkpoint", str(run), "--input", str(image), "--output", str(tmp_path / "o"),
              "--seed", seed])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "argument --seed: expected a whole number 0 to 2**53" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()
