"""Step time of data-parallel training: 2 (or --nproc) torchrun processes against one, on this machine.

    python benchmarks/ddp.py                              # munit as checked out here
    python benchmarks/ddp.py --source /tmp/old_checkout   # another checkout's munit, same settings

Trains the built-in MUNIT config (64 px, dim 16, batch 1 per process) for --iterations, --runs times per
setting, and prints the median seconds per iteration after the first --warmup iterations (from the run
log's timestamps). Each process gets `OMP_NUM_THREADS` = cores / processes, so both settings use the
whole machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def seconds_per_iteration(source: Path, nproc: int, iterations: int, warmup: int, overrides: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        threads = max(1, (os.cpu_count() or 2) // nproc)
        env = {**os.environ, "PYTHONPATH": str(source), "OMP_NUM_THREADS": str(threads)}
        launcher = (["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"] if nproc > 1 else [])
        sets = [f"max_iter={iterations}", "log_iter=1", f"snapshot_save_iter={iterations}",
                f"image_save_iter={iterations * 10}", f"image_display_iter={iterations * 10}", "gen.dim=16",
                "dis.dim=16", "gen.mlp_dim=64", "new_size=64", "crop_image_height=64", "crop_image_width=64",
                "num_workers=0", *overrides]
        cmd = [sys.executable, *launcher, "-m", "munit.cli", "train", "--config", str(ROOT / "configs" / "demo.yaml"),
               "--output", str(run), "--no-progress", *[a for s in sets for a in ("--set", s)]]
        subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        times = [json.loads(line)["time"] for line in (run / "log.jsonl").read_text().splitlines()]
        return (times[-1] - times[warmup]) / (len(times) - 1 - warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout whose munit to run")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    print(f"{'processes':>9}  {'s/it (median)':>13}  runs")
    for nproc in (1, args.nproc):
        runs = [seconds_per_iteration(args.source, nproc, args.iterations, args.warmup, args.set)
                for _ in range(args.runs)]
        print(f"{nproc:>9}  {statistics.median(runs):>13.4f}  {', '.join(f'{r:.4f}' for r in runs)}", flush=True)


if __name__ == "__main__":
    main()
