"""Fader networks' sliders on the built-in data as five domains (its hue modes): does moving an attribute
slider change that attribute, and does the content stay where the unedited reconstruction has it?

    python benchmarks/fader_sliders.py                          # seeds 0 and 1, 1,500 iterations each (~5 min)
    python benchmarks/fader_sliders.py --iterations 600 --seeds 0
    python benchmarks/fader_sliders.py --figure docs/images/results_fader.png
    python benchmarks/fader_sliders.py --set lat_dis_w=0          # without the latent discriminator

Trains configs/fader.yaml. On 20 test images of each domain s: the reconstruction (the slider of s at 1, the
rest at 0) and, for every other domain t, the edit that moves t's slider to 1 and s's to 0 (the one-hot code
of t, as the official code edits a categorical attribute); halfway (both at 0.5) too. The hue mode of each
output is read without a network (munit.eval.groundtruth), its shape region compared with the input's true
shape (content IoU). Prints a markdown table; runs that already finished in --runs are reused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paper_table import training_minutes  # noqa: E402 (after the path it needs)

PER_DOMAIN = 20


def train_run(run: Path, iterations: int, seed: int, overrides: list[str]) -> tuple[Path, float]:
    import torch

    from munit.methods import load_config
    from munit.training.checkpoint import latest_checkpoint
    from munit.training.loop import train

    cfg = load_config(ROOT / "configs" / "fader.yaml", [*overrides, f"seed={seed}", f"max_iter={iterations}",
                                                        f"snapshot_save_iter={iterations}",
                                                        f"image_save_iter={iterations}", "image_display_iter=100000"])
    latest = latest_checkpoint(run)
    if latest is None or latest.name != f"ckpt_{iterations:08d}.pt":
        train(cfg, run, torch.device("cpu"), resume=latest is not None, progress=True)
    return run, training_minutes(run)


def measure(run: Path) -> dict:
    import numpy as np
    import torch

    from munit.data import build_data
    from munit.eval import groundtruth
    from munit.inference import load_model
    from munit.visual import to_uint8

    model = load_model(run)
    method, names = model.method, list(model.method.domains)
    data = build_data(model.cfg, "test", type(method))
    rec_iou, edit_iou, moved, left, half_between = [], [], [], [], []
    with torch.no_grad():
        for s, source in enumerate(names):
            part = data.parts[s]
            x = torch.stack([part[i] for i in range(min(PER_DOMAIN, len(part)))])
            factors = [part.factors(i) for i in range(len(x))]
            rec = to_uint8(method.edit(model.nets, x, method.attributes({source: 1.0}, len(x), x.device)))
            rec_iou.append(groundtruth.content_iou(list(rec), factors, "b"))
            for t, target in enumerate(names):
                if t == s:
                    continue
                edited = list(to_uint8(method.edit(model.nets, x, method.attributes({target: 1.0}, len(x), x.device))))
                half = list(to_uint8(method.edit(model.nets, x, method.attributes({source: 0.5, target: 0.5}, len(x),
                                                                                   x.device))))
                modes = [groundtruth.hue_mode(groundtruth.fill_hue(img)) for img in edited]
                half_modes = [groundtruth.hue_mode(groundtruth.fill_hue(img)) for img in half]
                moved.append(np.mean([m == t for m in modes]))
                left.append(np.mean([m != s for m in modes]))
                half_between.append(np.mean([m in (s, t) for m in half_modes]))
                edit_iou.append(groundtruth.content_iou(edited, factors, "b"))
    return {"edit_in_target": float(np.mean(moved)), "edit_left_source": float(np.mean(left)),
            "half_in_source_or_target": float(np.mean(half_between)),
            "reconstruction_iou": float(np.mean(rec_iou)), "edit_iou": float(np.mean(edit_iou)),
            "inputs_per_pair": PER_DOMAIN}


def figure(run: Path, path: Path) -> None:
    """One row per source domain: the input, then the slider of the domain two further on from 0 to 1 (the
    source's from 1 to 0)."""
    import torch

    from munit.data import build_data
    from munit.inference import load_model
    from munit.visual import save_png, tile, to_uint8

    model = load_model(run)
    method, names = model.method, list(model.method.domains)
    data = build_data(model.cfg, "test", type(method))
    steps = (0.0, 0.25, 0.5, 0.75, 1.0)
    rows = []
    with torch.no_grad():
        for s, source in enumerate(names):
            x = data.parts[s][0][None]
            target = names[(s + 2) % len(names)]
            outs = [method.edit(model.nets, x, method.attributes({source: 1 - a, target: a}, 1, x.device))
                    for a in steps]
            rows.append([to_uint8(x)[0], *(to_uint8(o)[0] for o in outs)])
    save_png(tile(rows, ["input", *(f"slider {a:g}" for a in steps)]), path)


def arguments(description: str, runs: str, set_example: str) -> argparse.Namespace:
    """The command line of a Fader benchmark: budget, seeds, runs folder, figure, config overrides."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / runs)
    parser.add_argument("--figure", type=Path, help="write the first seed's edits to this PNG")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"config override (e.g. {set_example})")
    return parser.parse_args()


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], "fader_sliders",
                     "lat_dis_w=0, to measure without the latent discriminator")
    start = time.perf_counter()
    lines = ["| seed | edit: output in the target hue ↑ | edit: left the source hue ↑ | halfway: source or target "
             "hue | content IoU, reconstruction | content IoU, edit | IoU change | training min |",
             "|" + "---|" * 8]
    results = {}
    for seed in args.seeds:
        name = "_".join(["fader", *(o.replace("=", "") for o in args.set), f"seed{seed}"])
        run, minutes = train_run(args.runs / name, args.iterations, seed, args.set)
        r = results[seed] = measure(run)
        lines.append(f"| {seed} | {r['edit_in_target']:.2f} | {r['edit_left_source']:.2f} | "
                     f"{r['half_in_source_or_target']:.2f} | {r['reconstruction_iou']:.3f} | {r['edit_iou']:.3f} | "
                     f"{r['edit_iou'] - r['reconstruction_iou']:+.3f} | {minutes:.0f} |")
        if args.figure and seed == args.seeds[0]:
            figure(run, args.figure)
    (args.runs / "results.json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))
    print(f"\n{args.iterations} iterations; `python benchmarks/fader_sliders.py {' '.join(sys.argv[1:])}` in "
          f"{(time.perf_counter() - start) / 60:.0f} min")


if __name__ == "__main__":
    main()
