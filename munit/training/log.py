"""Per-run scalar logs: JSON lines (always) and TensorBoard event files."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

from munit.utils import atomic_write_text


class RunLog:
    """Appends {"iteration", "time", <scalars>} lines to log.jsonl and the same scalars to TensorBoard.

    On resume, lines past the resumed iteration (written after the last checkpoint of a crashed run)
    are dropped, so the log matches the state the run continues from.
    """

    def __init__(self, run_dir: Path, start: int):
        self.path = Path(run_dir) / "log.jsonl"
        if self.path.is_file():
            lines = [line for line in self.path.read_bytes().decode("utf-8", errors="replace").splitlines()
                     if line.strip()]
            iterations = [_iteration(line) for line in lines]
            unreadable = iterations.count(None)
            if unreadable:
                warnings.warn(f"{self.path}: dropped {unreadable} unreadable line(s) (not munit's JSON lines)",
                              stacklevel=2)
            kept = [line for line, it in zip(lines, iterations, strict=True) if it is not None and it <= start]
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        self.file = open(self.path, "a")
        try:
            from tensorboardX import SummaryWriter
        except ImportError:  # Optional: the JSONL log carries the same numbers.
            self.writer = None
        else:
            self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=start + 1 if start else None)

    def write(self, iteration: int, scalars: dict[str, float]) -> None:
        self.file.write(json.dumps({"iteration": iteration, "time": round(time.time(), 3), **scalars}) + "\n")
        self.file.flush()
        if self.writer is not None:
            for name, value in scalars.items():
                self.writer.add_scalar(name, value, iteration)

    def close(self, quiet: bool = False) -> None:
        """Close both logs; `quiet` (while another error is on its way up) swallows write errors of the
        final flush, which on a full disk would hide the first error under a second traceback."""
        try:
            self.file.close()
            if self.writer is not None:
                self.writer.close()
        except (OSError, RuntimeError):
            if not quiet:
                raise


def _iteration(line: str) -> int | None:
    """The iteration of one of munit's log lines; None for anything else (junk, other JSON, Infinity, a
    nesting too deep to parse)."""
    try:
        return int(json.loads(line)["iteration"])
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
        return None
