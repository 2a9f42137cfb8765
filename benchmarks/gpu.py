"""MUNIT's training speed on a GPU over precision x memory layout x compilation, against the reference step.

    python benchmarks/gpu.py --json gpu.json                  # on a CUDA device: the whole grid
    python benchmarks/gpu.py --budget-s 300                   # stop starting settings after 300 s
    python benchmarks/gpu.py --device cpu --sizes 32 --batches 1 --steps 1 --runs 1 --no-compile   # its test

The grid: for MUNIT (dim 64, the paper configs' width) at each size and batch, the reference's iteration
in float32 (`ReferenceStep` of speed.py: NVlabs/MUNIT's update, which has no mixed precision), then fast
mode over {float32, bf16, fp16} x {channels_last off, on} x {compile off, on}. Every setting runs in this
process one after another (`torch._dynamo.reset()` between compiled ones; peak memory reset per setting),
uncompiled settings first, so that a budget cuts the slow-to-start compiled ones. A setting's first
`--warmup` iterations are not timed (compilation happens there); then `--runs` runs of `--steps`
iterations, whose median per-iteration time is reported with the peak allocated memory, the losses'
finiteness, and "/ reference" (reference time over this time: above 1 is faster). Results are written to
`--json` after every setting.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speed  # noqa: E402  (benchmarks/speed.py: settings, the reference step)

PRECISIONS = ("none", "bf16", "fp16")


def settings(sizes: list[int], batches: list[int], device: str, dim: int, compile_too: bool) -> list[dict]:
    grid = []
    for compiled in (False, True) if compile_too else (False,):
        for size in sizes:
            for batch in batches:
                base = {"method": "munit", "size": size, "dim": dim, "batch": batch, "device": device}
                if not compiled:
                    grid.append({**base, "mode": "reference", "amp": "none", "channels_last": False, "compile": False})
                grid += [{**base, "mode": "fast", "amp": amp, "channels_last": layout, "compile": compiled}
                         for amp in PRECISIONS for layout in (False, True)]
    for s in grid:
        s["set"] = [f"amp={s['amp']}", f"channels_last={str(s['channels_last']).lower()}",
                    f"compile={str(s['compile']).lower()}"]
    return grid


def measure(setting: dict, warmup: int, runs: int, steps: int) -> dict:
    import torch

    dev = torch.device(setting["device"])
    if setting["compile"]:
        torch._dynamo.reset()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    trainer, x_a, x_b, sync = speed._setup(setting)
    start = time.perf_counter()
    terms = {}
    for _ in range(warmup):
        terms = trainer.step(x_a, x_b) or {}
    sync()
    warmup_s = time.perf_counter() - start
    times = []
    for _ in range(runs):
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            terms = trainer.step(x_a, x_b) or terms
        sync()
        times.append((time.perf_counter() - start) / steps)
    finite = all(bool(torch.isfinite(v).all()) for v in terms.values()) if isinstance(terms, dict) else \
        bool(torch.isfinite(terms).all())
    peak = torch.cuda.max_memory_allocated(dev) / 2 ** 20 if dev.type == "cuda" else float("nan")
    del trainer
    gc.collect()
    return {**setting, "s_per_it": statistics.median(times), "times_s": times, "warmup_s": warmup_s,
            "peak_mb": peak, "finite": finite}


def table(results: list[dict]) -> list[str]:
    lines = ["| size | batch | step | amp | channels_last | compile | ms/it | / reference | peak MB | losses finite |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    reference = {(r["size"], r["batch"]): r["s_per_it"] for r in results if r["mode"] == "reference"}
    for r in results:
        ref = reference.get((r["size"], r["batch"]))
        ratio = f"{ref / r['s_per_it']:.2f}x" if ref and r["mode"] != "reference" else ""
        yes = {True: "on", False: "off"}
        peak = "n/a" if r["peak_mb"] != r["peak_mb"] else f"{r['peak_mb']:.0f}"  # NaN on CPU.
        lines.append(f"| {r['size']} | {r['batch']} | {r['mode']} | {r['amp']} | {yes[r['channels_last']]} | "
                     f"{yes[r['compile']]} | {1000 * r['s_per_it']:.1f} | {ratio} | {peak} | "
                     f"{'yes' if r['finite'] else 'NO'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if speed._cuda() else "cpu")
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations per setting (compilation)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="iterations per timed run")
    parser.add_argument("--no-compile", action="store_true", help="leave out the compiled half of the grid")
    parser.add_argument("--budget-s", type=float, default=float("inf"),
                        help="start no new setting after this many seconds (the rest are listed as not run)")
    parser.add_argument("--json", type=Path, help="write the results here (after every setting)")
    args = parser.parse_args()
    import torch

    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    print(f"device: {name}, torch {torch.__version__}", flush=True)
    start, results, skipped = time.perf_counter(), [], []
    for setting in settings(args.sizes, args.batches, args.device, args.dim, not args.no_compile):
        if time.perf_counter() - start > args.budget_s:
            skipped.append(setting)
            continue
        try:
            result = measure(setting, args.warmup, args.runs, args.steps)
        except RuntimeError as e:  # E.g. out of memory, or a backend without the dtype: the row says so.
            print(f"  failed: {setting['set']} {setting['size']} px batch {setting['batch']}: "
                  f"{str(e).splitlines()[0]}", flush=True)
            continue
        results.append(result)
        print(f"  {result['mode']} {result['size']} px batch {result['batch']} {' '.join(result['set'])}: "
              f"{1000 * result['s_per_it']:.1f} ms/it, peak {result['peak_mb']:.0f} MB", flush=True)
        if args.json:
            args.json.write_text(json.dumps({"device": name, "torch": torch.__version__, "results": results,
                                             "not_run": skipped}, indent=1))
    print("\n".join(table(results)))
    if skipped:
        print(f"not run (past --budget-s {args.budget_s:g}): {len(skipped)} settings")
    if args.json:
        args.json.write_text(json.dumps({"device": name, "torch": torch.__version__, "results": results,
                                         "not_run": skipped}, indent=1))


if __name__ == "__main__":
    main()
