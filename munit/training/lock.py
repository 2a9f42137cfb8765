"""A run folder's owner: one training at a time writes into a folder.

The owner holds an OS lock (`fcntl.flock`) on `<run>/.munit-lock` for as long as it trains, and writes its
process id, machine and start time into the file for the message another training gets. The OS releases
the lock when the process ends however it ends (kill -9 included), so a lock left by a dead run is never
mistaken for a live one: the file may stay, the lock does not. Where `fcntl` does not exist (Windows) the
folder is not locked.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from munit.errors import UserError

try:
    import fcntl
except ImportError:  # Windows.
    fcntl = None

LOCK_NAME = ".munit-lock"


class RunInUseError(UserError, RuntimeError):
    """Another training writes into this run folder now."""


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Own `run_dir` (created if missing) while the block runs; RunInUseError naming the owner if another
    process owns it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:  # A read-only or foreign folder: nothing of the run can be written either.
        raise OSError(e.errno, f"{e.strerror}; the run folder must be writable to train into it", str(path)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInUseError(f"{run_dir}: another munit train writes into this folder ({owner(path)}); "
                                "wait for it to finish, or choose another --output") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        yield
    finally:
        os.close(fd)  # Releases the lock.


def owner(path: Path) -> str:
    """The owner's description from the lock file, as far as it can be read."""
    try:
        info = json.loads(path.read_text())
        return f"pid {int(info['pid'])} on {info['host']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its process could not be read from the lock file"
