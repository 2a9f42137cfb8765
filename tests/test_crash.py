"""Crash safety: a training process killed with SIGKILL at random moments resumes to the weights of a run
that never stopped; a full disk leaves the previous checkpoint intact and stops with one line."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from munit.cli import main
from munit.training.checkpoint import latest_checkpoint, load_checkpoint

from helpers import ROOT, tiny_raw

TINY = tiny_raw(builtin_train_size=32, builtin_test_size=4, batch_size=1, max_iter=40, snapshot_save_iter=4,
                image_save_iter=6, image_display_iter=5, keep_last=2)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def start(config, run, resume: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "munit.cli", "train", "--config", str(config), "--output", str(run), "--no-progress"]
    return subprocess.Popen(cmd + (["--resume"] if resume else []), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def logged_iterations(run) -> int:
    """The last iteration in the run's log; a line still being written (no newline yet) is not counted: a read
    can land between the trainer's write and its end (seen once in a fresh clone's run)."""
    log = run / "log.jsonl"
    text = log.read_text() if log.exists() else ""
    lines = text[:text.rfind("\n") + 1].splitlines()
    return json.loads(lines[-1])["iteration"] if lines else 0


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_weights(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    rng = random.Random(0)
    run = tmp_path / "killed"
    kills = 0
    while kills < 4:
        proc = start(config, run, resume=latest_checkpoint(run) is not None)
        target = logged_iterations(run) + rng.randint(2, 9)
        deadline = time.time() + 120
        while logged_iterations(run) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))  # Anywhere in an iteration, a grid or a checkpoint write.
        if proc.poll() is not None:  # Finished before the kill: the test's budget was too small.
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        latest = latest_checkpoint(run)
        if latest is None:
            continue
        state = load_checkpoint(latest)  # Complete and loadable, whatever the moment of the kill.
        assert logged_iterations(run) - state["iteration"] <= TINY["snapshot_save_iter"]  # At most one interval lost.
    assert kills == 4
    proc = start(config, run, resume=True)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]

    clean = tmp_path / "clean"
    proc = start(config, clean, resume=False)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]
    got, expected = load_checkpoint(latest_checkpoint(run)), load_checkpoint(latest_checkpoint(clean))
    assert got["iteration"] == expected["iteration"] == TINY["max_iter"]
    for name, net in expected["nets"].items():
        for key, value in net.items():
            torch.testing.assert_close(got["nets"][name][key], value, rtol=0, atol=0, msg=f"{name}.{key}")
    # A write killed half-way leaves a hidden temporary file, never a partial ckpt_*.pt; each one loads, and
    # the resumed run removed the temporary files.
    for path in (run / "checkpoints").glob("ckpt_*.pt"):
        load_checkpoint(path)
    assert not list((run / "checkpoints").glob(".*.tmp"))


def test_a_full_disk_keeps_the_previous_checkpoint_and_stops_with_one_line(tmp_path, monkeypatch, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "max_iter": 12}))
    real_save, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) == 2:  # The second checkpoint: the disk is full half-way through.
            with open(f, "wb") as partial:
                partial.write(b"\0" * 100)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    code = main(["train", "--config", str(config), "--output", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "No space left on device" in err[0] and "ckpt_00000004.pt is intact" in err[0]
    latest = latest_checkpoint(tmp_path / "run")
    assert latest.name == "ckpt_00000004.pt" and load_checkpoint(latest)["iteration"] == 4
    # No partial file is left: the temporary file of the failed write was removed.
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["ckpt_00000004.pt", "latest"]


@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem of 1 MiB (a tmpfs) to fill up; skips where mounting one is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux; the simulated full-disk test still runs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk, leave: int = 0) -> None:
    """Fill `disk` up to `leave` bytes of free space."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * max(free - leave, 0))


def test_a_real_full_disk_during_training_stops_with_one_line_and_an_intact_checkpoint(small_disk, tmp_path,
                                                                                      capsys):
    """Checkpoints pile up (keep_last 0) on a 1 MiB filesystem until a write fails for real: torch.save's
    own error, a grid or a log line, whichever comes first; one line, the last checkpoint loads."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "max_iter": 400, "keep_last": 0}))
    run = small_disk / "run"
    code = main(["train", "--config", str(config), "--output", str(run), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "No space left on device" in err[0] and "is intact" in err[0]
    latest = latest_checkpoint(run)
    assert latest is not None and str(latest) in err[0]
    assert load_checkpoint(latest)["iteration"] >= 2
    assert not list(run.rglob(".*.tmp"))  # The failed write's temporary file is gone.


def test_a_full_disk_at_training_start_and_in_translate_gives_one_line(small_disk, tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "max_iter": 2}))
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "run"), "--no-progress"]) == 0
    fill(small_disk)
    code = main(["train", "--config", str(config), "--output", str(small_disk / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0], err
    (small_disk / "filler").unlink()
    images = tmp_path / "in"
    images.mkdir()
    from helpers import write_image

    for i in range(3):
        write_image(images / f"{i}.png", size=(32, 32), seed=i)
    fill(small_disk, leave=20_000)
    code = main(["translate", "--checkpoint", str(tmp_path / "run"), "--input", str(images), "--output",
                 str(small_disk / "out"), "--num-styles", "50"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0], err
    assert str(small_disk / "out" / "0_style") in err[0]  # The file it could not write.
    assert not list((small_disk / "out").glob(".*.tmp"))


def test_files_are_written_with_the_users_umask(tmp_path):
    from munit.utils import atomic_torch_save, atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_torch_save({"x": 1}, tmp_path / "b.pt")
        os.umask(0o027)
        atomic_write_text(tmp_path / "c.txt", "x")
    finally:
        os.umask(old)
    modes = [(tmp_path / name).stat().st_mode & 0o777 for name in ("a.txt", "b.pt", "c.txt")]
    assert modes == [0o644, 0o644, 0o640]


def test_training_into_a_read_only_filesystem_says_so(small_disk, tmp_path, capsys):
    """Resuming on a filesystem remounted read-only advised "continue with --resume once there is room"."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "max_iter": 2}))
    run = small_disk / "run"
    assert main(["train", "--config", str(config), "--output", str(run), "--no-progress"]) == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    config.write_text(yaml.safe_dump({**TINY, "max_iter": 4}))
    code = main(["train", "--config", str(config), "--output", str(run), "--resume", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "Read-only file system" in err[0] and "must be writable" in err[0] and "room" not in err[0]
    assert load_checkpoint(latest_checkpoint(run))["iteration"] == 2


def test_export_into_a_nearly_full_disk_stops_in_one_line_and_leaves_no_folder(small_disk, tmp_path, capsys):
    """`munit export --format torchscript` into a nearly full disk: a C++ abort (rc 134, 17 lines of c10
    frames) and a temporary folder left behind. Now a real one-line refusal before anything is written."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "max_iter": 1}))
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "run"), "--no-progress"]) == 0
    fill(small_disk, leave=4096)  # Less than the graph's file: its writer would abort.
    code = main(["export", str(tmp_path / "run"), "--format", "torchscript", "--output", str(small_disk / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0] and "MB free" in err[0], err
    assert [p.name for p in (small_disk / "out").iterdir()] == []
