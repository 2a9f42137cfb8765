"""Training and translation speed, peak memory and achieved FLOP/s: fast and exact mode against each other
and against the reference's iteration.

    python benchmarks/speed.py                      # the default grid, all three modes, medians of 5 runs
    python benchmarks/speed.py --methods munit unit --sizes 64 --dims 16 --batches 1 --runs 5
    python benchmarks/speed.py --dims 64 --batches 1 --set amp=bf16 --set channels_last=true --device cuda
    python benchmarks/speed.py --memory 500         # memory over a 500-iteration run instead
    python benchmarks/speed.py --json results.json

Each (setting, mode) runs in its own process (so peak memory is that run's), on random images, after two
warm-up iterations. Training: iterations per second of one full step (discriminator and generator
updates) in `train_mode` fast and exact, and (MUNIT) in `reference`: NVlabs/MUNIT's iteration re-created
from the reference's facts on the same networks (`ReferenceStep`; tests/test_speed_reference.py checks it
updates the weights as exact mode does); "fast/exact" and "/reference" are ratios of the medians. Translation: images
per second of `method.translate` in eval mode under no_grad (the same code in both modes; for CoGAN, the
latent search of up to `latent_search_steps` steps: `--methods cogan --batches 1` times one 64 px image); in
mode `reference`, the reference's translation (`encode`, content and style, then `decode`), and each mode's
ratio to it (`--compiled-translation`: fast and exact mode's translation compiled as
`Translator.compile()` does it, timed after its first call). GFLOP/it: FLOPs of one training step
counted by torch.utils.flop_counter (the reference's over a mode's is the most that mode could gain from
doing less arithmetic); GFLOP/s: these divided by the median step time, next to the machine's measured
float32 matrix-multiply peak.

`--memory N` trains one setting for N iterations and prints the process's resident memory (CPU) or
allocated and peak CUDA memory every N/10 iterations: a leak shows as a rising column.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = ("fast", "exact", "reference")
# Generator keys of the shipped configs that change a method's cost (DiscoGAN's 4 downsamplings, CoGAN's z).
METHOD_GEN_KEYS = {"discogan": {"n_downsample": 4}, "cogan": {"style_dim": 100}}


def setting_config(method: str, size: int, dim: int, mode: str, overrides: list[str]):
    from munit.config import apply_override
    from munit.methods import METHODS, config_from_dict

    raw = {"method": method, "new_size": size, "crop_image_height": size, "crop_image_width": size,
           "lr_policy": "constant", "train_mode": mode, "gen": {"dim": dim, "mlp_dim": 4 * dim}, "dis": {"dim": dim}}
    if method in ("cyclegan", "cyclegan_noise", "pix2pix", "bicyclegan", "gcgan", "cut"):
        raw["dis"]["n_layer"] = 3
    raw["gen"].update(METHOD_GEN_KEYS.get(method, {}))
    if METHODS[method].multi_domain:
        raw["data_root"] = "builtin:shapes"  # Its five domains (no image is read: the batches are random).
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw, warn_unused=False)


class ReferenceStep:
    """The NVlabs/MUNIT training iteration as its trainer computes it, re-created from the facts in
    ../shared/reference/munit_reference.md (sections 4 and 6), on munit's networks (the same layers, checked
    against the reference's recorded outputs): the yardstick speed ratios are taken against. dis_update
    then gen_update, each with its own style draws, plain `torch.optim.Adam` over each trainer's parameters,
    the generator graph the reference builds in dis_update, D not frozen in gen_update, LSGAN or NSGAN
    summed over scales. No logging, checks or schedulers: only the arithmetic of an iteration."""

    def __init__(self, cfg, nets):
        import torch

        self.cfg, self.nets = cfg, nets
        adam = {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2), "weight_decay": cfg.weight_decay}
        params = [p for name in ("gen_a", "gen_b") for p in nets[name].parameters() if p.requires_grad]
        self.gen_opt = torch.optim.Adam(params, **adam)
        params = [p for name in ("dis_a", "dis_b") for p in nets[name].parameters() if p.requires_grad]
        self.dis_opt = torch.optim.Adam(params, **adam)

    def _gan(self, outputs, target: float):
        import torch
        import torch.nn.functional as F

        if self.cfg.dis.gan_type == "lsgan":
            return sum(torch.mean((out - target) ** 2) for out in outputs)
        return sum(F.binary_cross_entropy_with_logits(out, torch.full_like(out, target)) for out in outputs)

    def _draw(self, x):
        import torch

        return torch.randn(x.shape[0], self.cfg.gen.style_dim, 1, 1, device=x.device)

    def dis_update(self, x_a, x_b, s_a=None, s_b=None):
        import torch

        cfg, n = self.cfg, self.nets
        self.dis_opt.zero_grad()
        s_a = self._draw(x_a) if s_a is None else s_a
        s_b = self._draw(x_b) if s_b is None else s_b
        c_a, c_b = n["gen_a"].encode(x_a)[0], n["gen_b"].encode(x_b)[0]
        x_ba, x_ab = n["gen_a"].decode(c_b, s_a), n["gen_b"].decode(c_a, s_b)  # With a graph, as the reference.
        loss = cfg.gan_w * (self._gan(n["dis_a"](x_ba.detach()), 0) + self._gan(n["dis_a"](x_a), 1)
                            + self._gan(n["dis_b"](x_ab.detach()), 0) + self._gan(n["dis_b"](x_b), 1))
        loss.backward()
        self.dis_opt.step()
        return torch.stack([loss.detach()])

    def gen_update(self, x_a, x_b, s_a=None, s_b=None):
        cfg, n = self.cfg, self.nets
        self.gen_opt.zero_grad()
        s_a = self._draw(x_a) if s_a is None else s_a
        s_b = self._draw(x_b) if s_b is None else s_b
        (c_a, s_a_prime), (c_b, s_b_prime) = n["gen_a"].encode(x_a), n["gen_b"].encode(x_b)
        x_a_recon, x_b_recon = n["gen_a"].decode(c_a, s_a_prime), n["gen_b"].decode(c_b, s_b_prime)
        x_ba, x_ab = n["gen_a"].decode(c_b, s_a), n["gen_b"].decode(c_a, s_b)
        (c_b_recon, s_a_recon), (c_a_recon, s_b_recon) = n["gen_a"].encode(x_ba), n["gen_b"].encode(x_ab)

        def l1(x, y):
            return (x - y).abs().mean()

        loss = (cfg.gan_w * (self._gan(n["dis_a"](x_ba), 1) + self._gan(n["dis_b"](x_ab), 1))
                + cfg.recon_x_w * (l1(x_a_recon, x_a) + l1(x_b_recon, x_b))
                + cfg.recon_s_w * (l1(s_a_recon, s_a) + l1(s_b_recon, s_b))
                + cfg.recon_c_w * (l1(c_a_recon, c_a) + l1(c_b_recon, c_b)))
        if cfg.recon_x_cyc_w > 0:
            x_aba, x_bab = n["gen_a"].decode(c_a_recon, s_a_prime), n["gen_b"].decode(c_b_recon, s_b_prime)
            loss = loss + cfg.recon_x_cyc_w * (l1(x_aba, x_a) + l1(x_bab, x_b))
        loss.backward()
        self.gen_opt.step()
        return loss.detach()

    def step(self, x_a, x_b):
        self.dis_update(x_a, x_b)
        self.gen_update(x_a, x_b)


def _setup(setting: dict):
    import torch

    from munit.training.loop import Trainer

    dev = torch.device(setting["device"])
    reference = setting["mode"] == "reference"
    if reference and setting["method"] != "munit":
        raise SystemExit(f"mode reference: the reference step is MUNIT's, not {setting['method']}'s")
    mode = "exact" if reference else setting["mode"]
    cfg = setting_config(setting["method"], setting["size"], setting["dim"], mode, setting["set"])
    if reference and cfg.vgg_w > 0:
        raise SystemExit("mode reference: the reference step is re-created without the VGG loss (vgg_w 0)")
    trainer = Trainer(cfg, dev)
    if reference:  # The same networks, stepped the reference's way.
        trainer.step = ReferenceStep(cfg, trainer.nets.train()).step
    gen = torch.Generator().manual_seed(0)
    x_a, x_b = (torch.rand(setting["batch"], c, setting["size"], setting["size"], generator=gen).to(dev) * 2 - 1
                for c in (cfg.input_dim_a, cfg.input_dim_b))
    if trainer.method.multi_domain:  # Sources with their domains; two references of a target domain, two codes.
        n, k = setting["batch"], len(trainer.method.domains)
        labels = [torch.randint(k, (n,), generator=gen).to(dev) for _ in range(2)]
        codes = [torch.randn(n, cfg.gen.latent_dim, generator=gen).to(dev) for _ in range(2)]
        x_a, x_b = (x_a, labels[0]), (x_b, x_b.flip(0), labels[1], *codes)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    return trainer, x_a, x_b, sync


def measure(setting: dict, runs: int, steps: int) -> dict:
    """Speed of one setting in one mode, in this process."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    trainer, x_a, x_b, sync = _setup(setting)
    dev = trainer.device
    for _ in range(2):
        trainer.step(x_a, x_b)
    try:
        with FlopCounterMode(display=False) as counter:
            trainer.step(x_a, x_b)
        flops = counter.get_total_flops()
    except RuntimeError:  # The counter's hooks refuse autograd.grad (StarGAN v2's R1 penalty): not counted.
        flops = float("nan")

    def timed(fn) -> list[float]:
        times = []
        for _ in range(runs):
            sync()
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            sync()
            times.append((time.perf_counter() - start) / steps)
        return times

    step_times = timed(lambda: trainer.step(x_a, x_b))
    nets, direction = trainer.nets.eval(), trainer.method.directions[0]
    x = x_a[0] if isinstance(x_a, tuple) else x_a
    if setting["mode"] == "reference":
        translate = functools.partial(reference_translate, nets, x, direction)
    elif setting.get("compiled_translation"):  # Translator.compile(): weights frozen into compiled code.
        from munit.api import compiled_translation

        translate = functools.partial(compiled_translation(trainer.method, nets, direction), x)
    else:
        translate = functools.partial(trainer.method.translate, nets, x, direction)
    with torch.no_grad():
        translate()
        translate_times = timed(translate)
    step = statistics.median(step_times)
    return {**setting, "it_per_s": 1 / step, "img_per_s": setting["batch"] / statistics.median(translate_times),
            "flop_per_step": flops, "flop_per_s": flops / step, "peak_memory_mb": _peak_memory(dev) / 2 ** 20,
            "runs": runs, "steps_per_run": steps, "step_times_s": step_times}


def reference_translate(nets, x, direction):
    """The reference's translation (its test script): `encode` (content and style codes, the style unused),
    then `decode` with a style drawn from the prior."""
    import torch

    from munit.methods.base import source_target

    source, target = source_target(nets, direction)
    content, _ = source.encode(x)
    return target.decode(content, torch.randn(x.shape[0], target.style_dim, 1, 1, device=x.device))


def memory_trace(setting: dict, iterations: int) -> list[dict]:
    """Memory every iterations/10 iterations of one training run, in this process."""
    import torch

    trainer, x_a, x_b, sync = _setup(setting)
    every = max(1, iterations // 10)
    trace = []
    for it in range(1, iterations + 1):
        trainer.step(x_a, x_b)
        if it % every == 0:
            sync()
            row = {"iteration": it, "rss_mb": _current_rss() / 2 ** 20,
                   "peak_mb": _peak_memory(trainer.device) / 2 ** 20}
            if trainer.device.type == "cuda":
                row["allocated_mb"] = torch.cuda.memory_allocated(trainer.device) / 2 ** 20
            trace.append(row)
    return trace


def _peak_memory(dev) -> float:
    import torch

    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _current_rss() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


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


def in_subprocess(flag: str, setting: dict, *extra: str):
    cmd = [sys.executable, __file__, flag, json.dumps(setting), *extra]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"benchmark of {setting} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["munit"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--dims", nargs="+", type=int, default=[16, 32, 64])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every setting, e.g. amp=bf16, channels_last=true, compile=true")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per setting (the median is reported)")
    parser.add_argument("--steps", type=int, default=3, help="iterations per timed run")
    parser.add_argument("--memory", type=int, metavar="ITERATIONS",
                        help="trace memory over this many iterations of the first setting and mode instead")
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--compiled-translation", action="store_true",
                        help="time fast and exact mode's translation as Translator.compile() runs it")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--trace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(json.loads(args.one), args.runs, args.steps)))
        return
    if args.trace:
        print(json.dumps(memory_trace(json.loads(args.trace), args.memory)))
        return

    settings = [{"method": m, "size": s, "dim": d, "batch": b, "device": args.device, "set": args.set,
                 "compiled_translation": args.compiled_translation}
                for m in args.methods for s in args.sizes for d in args.dims for b in args.batches]
    if args.memory:
        setting = {**settings[0], "mode": args.modes[0]}
        print(f"memory over {args.memory} iterations: {setting}")
        trace = in_subprocess("--trace", setting, "--memory", str(args.memory))
        for row in trace:
            print("  ".join(f"{k} {v:.0f}" if k != "iteration" else f"{k} {v:>6}" for k, v in row.items()))
        if args.json:
            args.json.write_text(json.dumps({"setting": setting, "trace": trace}, indent=1))
        return

    peak = matmul_peak(args.device)
    print(f"matmul peak ({args.device}, float32, 2048x2048): {peak / 1e9:.1f} GFLOP/s"
          + (f"; overrides: {' '.join(args.set)}" if args.set else ""))
    header = f"{'method':<15}{'size':>5}{'dim':>5}{'batch':>6}{'mode':>10}{'train it/s':>12}{'fast/exact':>11}" \
             f"{'/reference':>11}{'translate img/s':>17}{'/reference':>11}{'GFLOP/it':>9}{'GFLOP/s':>9}" \
             f"{'of peak':>9}{'peak MB':>9}"
    print(header)
    print("-" * len(header))
    results = []
    for setting in settings:
        modes = [m for m in args.modes if m != "reference" or setting["method"] == "munit"]  # MUNIT's step only.
        rows = [in_subprocess("--one", {**setting, "mode": mode}, "--runs", str(args.runs), "--steps", str(args.steps))
                for mode in modes]
        results += rows
        speeds = {r["mode"]: r["it_per_s"] for r in rows}
        translations = {r["mode"]: r["img_per_s"] for r in rows}
        for r in rows:  # Printed once the setting's modes are all measured, so each row has its ratios.
            mode = r["mode"]
            ratio = f"{speeds['fast'] / speeds['exact']:.2f}x" if mode == "exact" and "fast" in speeds else ""
            to_ref = (f"{r['it_per_s'] / speeds['reference']:.2f}x" if mode != "reference" and "reference" in speeds
                      else "")
            translate_to_ref = (f"{r['img_per_s'] / translations['reference']:.2f}x"
                                if mode != "reference" and "reference" in translations else "")
            print(f"{r['method']:<15}{r['size']:>5}{r['dim']:>5}{r['batch']:>6}{mode:>10}{r['it_per_s']:>12.2f}"
                  f"{ratio:>11}{to_ref:>11}{r['img_per_s']:>17.1f}{translate_to_ref:>11}"
                  f"{r['flop_per_step'] / 1e9:>9.2f}{r['flop_per_s'] / 1e9:>9.1f}"
                  f"{r['flop_per_s'] / peak:>9.1%}{r['peak_memory_mb']:>9.0f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"matmul_peak_flop_per_s": peak, "results": results}, indent=1))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
