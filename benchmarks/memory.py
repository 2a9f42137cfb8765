"""Peak training memory and time per iteration at high resolution, with and without activation checkpointing.

    python benchmarks/memory.py                              # the default table (about 20 min on 2 CPU cores)
    python benchmarks/memory.py --only munit --sizes 512 --steps 2
    python benchmarks/memory.py --device cuda --json memory.json

Each row is a fresh process that builds one method at one size (batch 1, dim 64, random images) and trains
`--steps` iterations after one warm-up iteration. Peak memory: on CPU the process's resident-set high-water
mark (`ru_maxrss`; "over import" subtracts the resident set after `import torch`, before any network is
built), on CUDA `torch.cuda.max_memory_allocated`. s/it is the median of the timed iterations. MUNIT rows:
the reference's iteration (`ReferenceStep` of speed.py: NVlabs/MUNIT's update on the same networks), then
fast mode with `checkpoint_activations` none, gen and all; "/ reference" divides by the reference row's
peak memory and time of the same size. The other methods: their fast mode at each level.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speed  # noqa: E402  (benchmarks/speed.py: settings, the reference step)

LEVELS = ("none", "gen", "all")
MUNIT_SIZES = (128, 256, 512)
OTHERS = ("cyclegan", "cut", "stargan_v2")
OTHERS_SIZE = 256


def measure(setting: dict, steps: int) -> dict:
    """One row, in this process."""
    import torch

    baseline = speed._current_rss()
    trainer, x_a, x_b, sync = speed._setup(setting)
    trainer.step(x_a, x_b)
    times = []
    for _ in range(steps):
        sync()
        start = time.perf_counter()
        trainer.step(x_a, x_b)
        sync()
        times.append(time.perf_counter() - start)
    dev = trainer.device
    peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {**setting, "s_per_it": statistics.median(times), "step_times_s": times, "peak_mb": peak / 2 ** 20,
            "baseline_mb": 0.0 if dev.type == "cuda" else baseline / 2 ** 20}


def rows_to_run(only: list[str] | None, sizes: list[int] | None, device: str, dim: int) -> list[dict]:
    def row(method, size, mode, level):
        return {"method": method, "size": size, "dim": dim, "batch": 1, "device": device, "mode": mode,
                "level": level, "set": [f"checkpoint_activations={level}"]}

    rows = []
    for method in only or ("munit", *OTHERS):
        method_sizes = sizes or (MUNIT_SIZES if method == "munit" else (OTHERS_SIZE,))
        for size in method_sizes:
            if method == "munit":
                rows.append(row(method, size, "reference", "none"))
            rows += [row(method, size, "fast", level) for level in LEVELS]
    return rows


def run_row(setting: dict, steps: int) -> dict | None:
    cmd = [sys.executable, __file__, "--one", json.dumps(setting), "--steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  {setting['method']} {setting['size']} px {setting['mode']} {setting['level']}: failed ({last})",
              flush=True)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> list[str]:
    header = "| method | size | step | checkpoint_activations | s/it | peak MB | over import MB | / reference |"
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    reference = {(r["method"], r["size"]): r for r in results if r["mode"] == "reference"}
    for r in results:
        ref = reference.get((r["method"], r["size"]))
        ratio = "" if ref is None or ref is r else \
            f"memory {r['peak_mb'] / ref['peak_mb']:.2f}x, time {r['s_per_it'] / ref['s_per_it']:.2f}x"
        step = "reference" if r["mode"] == "reference" else "fast"
        level = "" if r["mode"] == "reference" else r["level"]
        lines.append(f"| {r['method']} | {r['size']} | {step} | {level} | {r['s_per_it']:.3f} | {r['peak_mb']:.0f} | "
                     f"{r['peak_mb'] - r['baseline_mb']:.0f} | {ratio} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=("munit", *OTHERS), help="methods (default: all four)")
    parser.add_argument("--sizes", nargs="+", type=int, help="image sizes (default: MUNIT 128 256 512, others 256)")
    parser.add_argument("--dim", type=int, default=64, help="gen.dim and dis.dim (the paper configs' 64)")
    parser.add_argument("--steps", type=int, default=3, help="timed iterations per row, after one warm-up")
    parser.add_argument("--device", default="cuda" if speed._cuda() else "cpu")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(json.loads(args.one), args.steps)))
        return
    results = []
    for setting in rows_to_run(args.only, args.sizes, args.device, args.dim):
        result = run_row(setting, args.steps)
        if result is not None:
            results.append(result)
            print(f"  {result['method']} {result['size']} px {result['mode']} {result['level']}: "
                  f"{result['s_per_it']:.3f} s/it, peak {result['peak_mb']:.0f} MB", flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    print(f"device: {args.device}, batch 1, dim {args.dim}, {args.steps} timed iterations per row")
    print("\n".join(table(results)))


if __name__ == "__main__":
    main()
