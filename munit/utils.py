"""Small helpers: atomic writes, device choice, seeding."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from munit.errors import UsageError, UserError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename: a crash leaves the old file or the new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _file_mode())
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            if e.filename is None:  # A write through the descriptor names no file: name the one being written.
                raise OSError(e.errno, e.strerror, str(path)) from None
            raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_mode() -> int:
    """The mode open() would give a new file under the current umask (mkstemp's files are 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj: Any, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, _file_mode())
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:  # torch's zip writer reports a full disk as RuntimeError("... write failed").
            full = shutil.disk_usage(path.parent).free < 2 ** 20
            code = errno.ENOSPC if full else errno.EIO
            raise OSError(code, f"{os.strerror(code)} ({str(e).splitlines()[0]})", str(path)) from None
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pick_device(name: str | None = None) -> torch.device:
    """`name` if given (cpu, cuda, cuda:1, mps), else CUDA when available, else CPU."""
    if name:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise UsageError(f"--device {name}: not a device; expected cpu, cuda, cuda:N or mps") from None
        if device.type not in ("cpu", "cuda", "mps"):
            raise UsageError(f"--device {name}: munit runs on cpu, cuda, cuda:N or mps, not {device.type}")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UsageError(f"--device {name}: CUDA is not available on this machine")
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA devices "
                             f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise UsageError(f"--device {name}: MPS (Apple GPUs) is not available on this machine or build")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class MissingExtra(UserError, RuntimeError):
    """An optional dependency group (pip install 'munit[<extra>]') is needed and not installed."""
