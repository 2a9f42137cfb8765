"""Training and translation speed, peak memory and achieved FLOP/s for a grid of settings.

    python benchmarks/speed.py                      # the default grid, medians of 3 runs
    python benchmarks/speed.py --methods munit unit --sizes 64 --dims 16 --batches 1 --runs 5
    python benchmarks/speed.py --json results.json

Each setting runs in its own process (so peak memory is that setting's), on random images, after two
warm-up iterations. Training: iterations per second of one full step (discriminator and generator
updates). Translation: images per second of `method.translate` in eval mode under no_grad. FLOP/s:
FLOPs of one training step counted by torch.utils.flop_counter, divided by the median step time, next to
the machine's measured float32 matrix-multiply peak.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setting_config(method: str, size: int, dim: int):
    from munit.config import config_from_dict

    raw = {"method": method, "new_size": size, "crop_image_height": size, "crop_image_width": size,
           "lr_policy": "constant", "gen": {"dim": dim, "mlp_dim": 4 * dim}, "dis": {"dim": dim}}
    if method in ("cyclegan", "cyclegan_noise", "pix2pix", "bicyclegan"):
        raw["dis"]["n_layer"] = 3
    return config_from_dict(raw, warn_unused=False)


def measure(method: str, size: int, dim: int, batch: int, runs: int, steps: int, device: str) -> dict:
    """One setting, in this process."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from munit.training.loop import Trainer

    dev = torch.device(device)
    cfg = setting_config(method, size, dim)
    trainer = Trainer(cfg, dev)
    channels = (cfg.input_dim_a, cfg.input_dim_b)
    x_a, x_b = (torch.rand(batch, c, size, size, device=dev) * 2 - 1 for c in channels)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(2):
        trainer.step(x_a, x_b)
    with FlopCounterMode(display=False) as counter:
        trainer.step(x_a, x_b)
    flops = counter.get_total_flops()

    step_times = []
    for _ in range(runs):
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.step(x_a, x_b)
        sync()
        step_times.append((time.perf_counter() - start) / steps)

    nets = trainer.nets.eval()
    direction = trainer.method.directions[0]
    translate_times = []
    with torch.no_grad():
        trainer.method.translate(nets, x_a, direction)
        for _ in range(runs):
            sync()
            start = time.perf_counter()
            for _ in range(steps):
                trainer.method.translate(nets, x_a, direction)
            sync()
            translate_times.append((time.perf_counter() - start) / steps)
    step = statistics.median(step_times)
    peak = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"method": method, "size": size, "dim": dim, "batch": batch, "device": device,
            "it_per_s": 1 / step, "img_per_s": batch / statistics.median(translate_times),
            "flop_per_step": flops, "flop_per_s": flops / step, "peak_memory_mb": peak / 2 ** 20,
            "runs": runs, "steps_per_run": steps, "step_times_s": step_times}


def matmul_peak(device: str, n: int = 2048, runs: int = 5) -> float:
    """Float32 FLOP/s of an n x n matrix multiply, the median of `runs`."""
    import torch

    dev = torch.device(device)
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    a @ b
    times = []
    for _ in range(runs):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["munit"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--dims", nargs="+", type=int, default=[16, 32, 64])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per setting (the median is reported)")
    parser.add_argument("--steps", type=int, default=3, help="iterations per timed run")
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--one", nargs=4, metavar=("METHOD", "SIZE", "DIM", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        method, size, dim, batch = args.one
        print(json.dumps(measure(method, int(size), int(dim), int(batch), args.runs, args.steps, args.device)))
        return

    peak = matmul_peak(args.device)
    print(f"matmul peak ({args.device}, float32, 2048x2048): {peak / 1e9:.1f} GFLOP/s")
    header = f"{'method':<15}{'size':>5}{'dim':>5}{'batch':>6}{'train it/s':>12}{'translate img/s':>17}" \
             f"{'GFLOP/s':>9}{'of peak':>9}{'peak MB':>9}"
    print(header)
    print("-" * len(header))
    results = []
    for method in args.methods:
        for size in args.sizes:
            for dim in args.dims:
                for batch in args.batches:
                    cmd = [sys.executable, __file__, "--one", method, str(size), str(dim), str(batch),
                           "--runs", str(args.runs), "--steps", str(args.steps), "--device", args.device]
                    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                    r = json.loads(out.strip().splitlines()[-1])
                    results.append(r)
                    print(f"{method:<15}{size:>5}{dim:>5}{batch:>6}{r['it_per_s']:>12.2f}{r['img_per_s']:>17.1f}"
                          f"{r['flop_per_s'] / 1e9:>9.1f}{r['flop_per_s'] / peak:>9.1%}{r['peak_memory_mb']:>9.0f}",
                          flush=True)
    if args.json:
        args.json.write_text(json.dumps({"matmul_peak_flop_per_s": peak, "results": results}, indent=1))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
