"""Fader networks with binary attributes from a labels file: the built-in filled shapes written out as image
files with a CSV of two attributes, `blue` (the fill's hue mode is blue) and `lit_left` (the shading is
brighter on the shape's left half), then trained through `attributes_file` as a user's CelebA-like data.

    python benchmarks/fader_attributes.py                          # seeds 0 and 1, 1,500 iterations each
    python benchmarks/fader_attributes.py --seeds 0 --figure docs/images/results_fader_attributes.png
    python benchmarks/fader_attributes.py --seeds 0 --set lat_dis_w=0.1

Trains configs/fader.yaml on the files, without random flips (they would swap the lit side and leave its
label). On the test images: the reconstruction (both sliders at the image's
own values) and, for each attribute, the edit that flips its slider (the other at the image's value). An
output "has" an attribute as the labels were made: hue mode read without a network (munit.eval.groundtruth),
left half of the fill brighter than its right half. Content IoU of each output's shape region against the
input's true shape. Prints a markdown table; data and runs that already exist in --runs are reused.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fader_sliders import arguments, train_run  # noqa: E402 (after the path it needs)

ATTRIBUTES = ("blue", "lit_left")
BLUE = 3  # Index of blue in munit.data.builtin.HUE_MODES.
SIZE = 64
COUNTS = {"train": 4000, "test": 100}


def lit_left(image: np.ndarray) -> bool:
    """Whether the fill (H, W, 3 uint8) is brighter on the left of its centre than on the right."""
    from munit.eval import groundtruth

    mask = groundtruth.filled_mask(image)
    if mask.sum() < 4:
        return False
    columns = np.nonzero(mask)[1]
    light = image.astype(np.float64).mean(axis=2)
    on_left = np.arange(mask.shape[1]) < columns.mean()
    left, right = mask & on_left, mask & ~on_left
    return bool(light[left].mean() > light[right].mean()) if left.any() and right.any() else False


def has(image: np.ndarray) -> list[int]:
    """The attributes an image shows, as its labels were made."""
    from munit.eval import groundtruth

    return [int(groundtruth.hue_mode(groundtruth.fill_hue(image)) == BLUE), int(lit_left(image))]


def write_data(root: Path) -> Path:
    """The built-in filled shapes of each split as PNGs and attributes.csv (kept when already written)."""
    from PIL import Image

    from munit.data.builtin import draw_factors, render

    labels = root / "attributes.csv"
    if labels.is_file():
        return labels
    lines = ["image," + ",".join(ATTRIBUTES)]
    for split, count in COUNTS.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image = render(draw_factors(0, split, "b", i), "b", SIZE)
            Image.fromarray(image, "RGB").save(root / split / f"{i:05d}.png")
            lines.append(f"{split}/{i:05d}.png," + ",".join(map(str, has(image))))
    labels.with_suffix(".tmp").write_text("\n".join(lines) + "\n")
    labels.with_suffix(".tmp").replace(labels)
    return labels


def outputs(run: Path):
    """The test inputs, their true factors and labels, and per case ('reconstruction', 'flip <attribute>')
    the edited images (N, H, W, 3 uint8)."""
    import torch

    from munit.data import build_data
    from munit.data.builtin import draw_factors
    from munit.inference import load_model
    from munit.visual import to_uint8

    model = load_model(run)
    method = model.method
    data = build_data(model.cfg, "test", type(method))
    x = torch.stack([data.parts[0][i] for i in range(len(data.parts[0]))])
    factors = [draw_factors(0, "test", "b", int(p.stem)) for p in data.parts[0].paths]
    own = data.labels.float()
    cases = {"reconstruction": own}
    for a, name in enumerate(ATTRIBUTES):
        flipped = own.clone()
        flipped[:, a] = 1 - flipped[:, a]
        cases[f"flip {name}"] = flipped
    with torch.no_grad():
        edited = {case: to_uint8(method.edit(model.nets, x, sliders)) for case, sliders in cases.items()}
    return to_uint8(x), factors, data.labels, cases, edited


def measure(run: Path) -> dict:
    from munit.eval import groundtruth

    _, factors, labels, cases, edited = outputs(run)
    result = {}
    for case, images in edited.items():
        shown = np.array([has(img) for img in images])
        wanted = cases[case].numpy().astype(int)
        result[case] = {"iou": groundtruth.content_iou(list(images), factors, "b"),
                        **{f"{name} as set": float((shown[:, a] == wanted[:, a]).mean())
                           for a, name in enumerate(ATTRIBUTES)}}
    result["inputs"] = len(labels)
    return result


def figure(run: Path, path: Path, rows: int = 6) -> None:
    """Per test image: the input, its reconstruction, each attribute flipped."""
    from munit.visual import save_png, tile

    x, _, _, cases, edited = outputs(run)
    names = ["input", "own values", *(f"{a} flipped" for a in ATTRIBUTES)]
    save_png(tile([[x[i], *(edited[c][i] for c in cases)] for i in range(rows)], names), path)


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], "fader_attributes", "lat_dis_w=0.1")
    start = time.perf_counter()
    labels = write_data(args.runs / "data")
    lines = ["| seed | case | blue as set ↑ | lit_left as set ↑ | content IoU | IoU change | training min |",
             "|" + "---|" * 7]
    results = {}
    for seed in args.seeds:
        name = "_".join([*(o.replace("=", "") for o in args.set), f"seed{seed}"])
        data = [f"data_root={labels.parent}", f"attributes_file={labels}", "flip=false"]
        run, minutes = train_run(args.runs / name, args.iterations, seed, [*data, *args.set])
        r = results[seed] = measure(run)
        base = r["reconstruction"]["iou"]
        for case in ("reconstruction", *(f"flip {a}" for a in ATTRIBUTES)):
            m = r[case]
            lines.append(f"| {seed} | {case} | {m['blue as set']:.2f} | {m['lit_left as set']:.2f} | {m['iou']:.3f} | "
                         f"{m['iou'] - base:+.3f} | {minutes:.0f} |")
        if args.figure and seed == args.seeds[0]:
            figure(run, args.figure)
    (args.runs / "results.json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))
    print(f"\n{args.iterations} iterations, {results[args.seeds[0]]['inputs']} test images; "
          f"`python benchmarks/fader_attributes.py {' '.join(sys.argv[1:])}` in "
          f"{(time.perf_counter() - start) / 60:.0f} min")


if __name__ == "__main__":
    main()
