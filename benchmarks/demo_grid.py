"""The demo grid's random-style columns across trained demo runs: how many of the built-in data's five hue
families they show with the codes `munit sample` picks by default (`--codes spread`) and with plain random
draws (`--codes random`, the grid before issue 36).

    python benchmarks/demo_grid.py --seeds 0 1 2 3 4            # trains configs/demo.yaml per seed if absent
    python benchmarks/demo_grid.py --runs runs/demo runs/other  # runs trained already

Each seed stands for another machine: the same seed trains slightly different networks on different CPUs, so
which hues five given codes land on is each machine's draw, as a different seed's is here. A column's family
is the hue mode (munit.eval.groundtruth) that most of its outputs show; the table gives, per run, the columns'
families both ways and how many distinct ones each shows (of 5).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def train(seed: int, runs: Path) -> Path:
    """runs/demo_s<seed>: `make demo`'s training with another seed (resumed, or left as it is when done)."""
    out = runs / f"demo_s{seed}"
    subprocess.run([sys.executable, "-m", "munit.cli", "train", "--config", str(ROOT / "configs/demo.yaml"),
                    "--output", str(out), "--set", f"seed={seed}", "--resume"], check=True)
    return out


def column_families(run: Path, codes: str, num_inputs: int = 8, num_styles: int = 5, num_refs: int = 4,
                    seed: int = 10) -> list[int | None]:
    """The hue family of each random-style column of `munit sample`'s a2b grid of `run`."""
    from munit.data import build_data, displays
    from munit.eval.groundtruth import fill_hue, hue_mode
    from munit.inference import load_model, random_columns, spread_codes
    from munit.visual import to_pil

    model = load_model(run, torch.device("cpu"))
    method, direction = model.method, model.method.direction("a2b")
    shown = displays(model.cfg, build_data(model.cfg, "test", type(method)), num_inputs, num_refs)
    x, refs = shown["a"], shown["ref_b"]
    generator = torch.Generator().manual_seed(seed)  # As sample_grids draws them for its first direction.
    with torch.no_grad():
        if codes == "spread":
            styles = spread_codes(method, model.nets, x, refs, direction, num_styles, generator)
        else:
            styles = method.random_styles(num_styles, torch.device("cpu"), generator)
        columns = random_columns(method, model.nets, x, refs, direction, styles)
    families = []
    for y in columns:
        modes = [hue_mode(fill_hue(np.asarray(to_pil(image)))) for image in y]
        counted = Counter(m for m in modes if m is not None).most_common(1)
        families.append(counted[0][0] if counted else None)
    return families


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="train (or reuse) runs/demo_s<seed>")
    parser.add_argument("--runs", nargs="*", default=[], help="demo runs trained already")
    parser.add_argument("--runs-dir", default=str(ROOT / "runs"))
    args = parser.parse_args()
    runs = [train(s, Path(args.runs_dir)) for s in args.seeds] + [Path(r) for r in args.runs]
    if not runs:
        parser.error("give --seeds or --runs")
    print("| run | spread codes: families | distinct | random codes: families | distinct |")
    print("|---|---|---|---|---|")
    for run in runs:
        cells = []
        for codes in ("spread", "random"):
            families = column_families(run, codes)
            cells += [" ".join("-" if f is None else str(f) for f in families),
                      str(len({f for f in families if f is not None}))]
        print(f"| {run.name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
