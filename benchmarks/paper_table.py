"""The MUNIT paper's Table 1 at laptop scale, on the built-in data (offline, no pretrained network).

    python benchmarks/paper_table.py                       # ~1 h on 2 CPU cores: 3,000 iterations per model
    python benchmarks/paper_table.py --iterations 800      # a quick run
    python benchmarks/paper_table.py --only munit_fast_mode unit --runs runs/table
    python benchmarks/paper_table.py --only discogan cogan --figure docs/images/results_unpaired.png

With --only, the rows of the chosen models are replaced (or added) in the existing table and a line says
which command measured them; the rest of docs/results.md is kept, and the figure (--figure) shows those
models only.

Trains MUNIT (in fast mode, munit's default, and in exact mode, the reference's computation), its
ablations without L_x, L_c and L_s, UNIT, CycleGAN, CycleGAN with noise and BicycleGAN
(paired) on builtin:shapes at 64 px with the same iteration budget, evaluates every model with the
`builtin` protocol (direction a2b: line drawings -> coloured shapes) and writes docs/results.md with the
table, the command and its wall time, and docs/images/results_samples.png (outputs per method).
Runs that already finished in --runs are reused.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> (config file, overrides). The ablations remove one reconstruction term of MUNIT's objective.
MODELS = {
    # Fast mode as it was when this table was first made: the discriminators judged the generator pass's own
    # fakes (its default since is "MUNIT, fast mode" below).
    "MUNIT, fast mode before its fix": ("demo.yaml", ["train_mode=fast", "dis_same_draws=true"]),
    "MUNIT, exact mode": ("demo.yaml", ["train_mode=exact"]),  # The reference's computation, for issue 6.
    "MUNIT w/o L_x": ("demo.yaml", ["train_mode=fast", "recon_x_w=0"]),
    "MUNIT w/o L_c": ("demo.yaml", ["train_mode=fast", "recon_c_w=0"]),
    "MUNIT w/o L_s": ("demo.yaml", ["train_mode=fast", "recon_s_w=0"]),
    "UNIT": ("unit.yaml", []),
    "UNIT, seed 1": ("unit.yaml", ["seed=1"]),
    "UNIT, seed 2": ("unit.yaml", ["seed=2"]),
    "CycleGAN": ("cyclegan.yaml", []),
    "CycleGAN, seed 1": ("cyclegan.yaml", ["seed=1"]),
    "CycleGAN, seed 2": ("cyclegan.yaml", ["seed=2"]),
    "CycleGAN + noise": ("cyclegan_noise.yaml", []),
    "CycleGAN + noise, seed 1": ("cyclegan_noise.yaml", ["seed=1"]),
    "CycleGAN + noise, seed 2": ("cyclegan_noise.yaml", ["seed=2"]),
    "BicycleGAN (paired)": ("bicyclegan.yaml", []),
    "BicycleGAN (paired), seed 1": ("bicyclegan.yaml", ["seed=1"]),
    "BicycleGAN, latent concatenated": ("bicyclegan.yaml", ["gen.where_add=all"]),
    # Issue 36: z scales and shifts only the three innermost up levels (2, 4 and 8 px at 64 px), three seeds.
    "BicycleGAN, z at coarse levels": ("bicyclegan.yaml", ["gen.mod_levels=3"]),
    "BicycleGAN, z at coarse levels, seed 1": ("bicyclegan.yaml", ["gen.mod_levels=3", "seed=1"]),
    "BicycleGAN, z at coarse levels, seed 2": ("bicyclegan.yaml", ["gen.mod_levels=3", "seed=2"]),
    # Issues 12 and 19: fast mode since its discriminators judge fakes of their own style draws, two seeds.
    "MUNIT, fast mode": ("demo.yaml", ["train_mode=fast"]),
    "MUNIT, fast mode, seed 1": ("demo.yaml", ["train_mode=fast", "seed=1"]),
    "MUNIT, fast mode, seed 2": ("demo.yaml", ["train_mode=fast", "seed=2"]),
    # Issue 16: the survey's other unpaired methods, and MUNIT with the mode-seeking term over two seeds.
    "MUNIT, exact mode, seed 1": ("demo.yaml", ["train_mode=exact", "seed=1"]),
    "MUNIT + mode seeking": ("demo.yaml", ["train_mode=exact", "ms_w=1"]),
    "MUNIT + mode seeking, seed 1": ("demo.yaml", ["train_mode=exact", "ms_w=1", "seed=1"]),
    "DiscoGAN": ("discogan.yaml", []),
    "DiscoGAN, seed 1": ("discogan.yaml", ["seed=1"]),
    "DiscoGAN, seed 2": ("discogan.yaml", ["seed=2"]),
    "CoGAN": ("cogan.yaml", []),
    "GcGAN": ("gcgan.yaml", []),
    # Issue 15: CUT and FastCUT, one-sided and contrastive.
    "CUT": ("cut.yaml", []),
    "FastCUT": ("fastcut.yaml", []),
    "FastCUT, authors' decay": ("fastcut.yaml", ["lr_decay_start=1500"]),
    "CUT, seed 1": ("cut.yaml", ["seed=1"]),
    "FastCUT, seed 1": ("fastcut.yaml", ["seed=1"]),
    "FastCUT, authors' decay, seed 1": ("fastcut.yaml", ["lr_decay_start=1500", "seed=1"]),
    "FastCUT, authors' decay, seed 2": ("fastcut.yaml", ["lr_decay_start=1500", "seed=2"]),
    "CUT, seed 2": ("cut.yaml", ["seed=2"]),
    # Issue 17: label maps (background and shape kind per pixel, the outline as instance boundary) to photos.
    "pix2pix (label maps)": ("shapelabels_pix2pix.yaml", []),
    "pix2pixHD (label maps)": ("shapelabels_pix2pixhd.yaml", []),
    "pix2pixHD (label maps), seed 1": ("shapelabels_pix2pixhd.yaml", ["seed=1"]),
    "pix2pixHD (label maps), seed 2": ("shapelabels_pix2pixhd.yaml", ["seed=2"]),
    "pix2pixHD + feature encoder (label maps)": ("shapelabels_pix2pixhd.yaml", ["feat_num=3"]),
    "pix2pixHD + feature encoder (label maps), seed 1": ("shapelabels_pix2pixhd.yaml", ["feat_num=3", "seed=1"]),
    "pix2pixHD + feature encoder (label maps), seed 2": ("shapelabels_pix2pixhd.yaml", ["feat_num=3", "seed=2"]),
    "SPADE (label maps)": ("shapelabels_spade.yaml", []),
    "SPADE (label maps), seed 1": ("shapelabels_spade.yaml", ["seed=1"]),
    "BicycleGAN, layer norm": ("bicyclegan.yaml", ["gen.norm=ln"]),
    "BicycleGAN, layer norm, seed 1": ("bicyclegan.yaml", ["gen.norm=ln", "seed=1"]),
    # Issue 37: mixed precision (bf16 autocast, normalisation, style MLP and losses in float32) against the
    # float32 fast-mode rows above, two seeds.
    "MUNIT, fast mode, bf16": ("demo.yaml", ["train_mode=fast", "amp=bf16"]),
    "MUNIT, fast mode, bf16, seed 1": ("demo.yaml", ["train_mode=fast", "amp=bf16", "seed=1"]),
    # Issue 18: InfoGAN's code term, five categories for the five hue modes.
    "CycleGAN + noise + InfoGAN code": ("cyclegan_noise.yaml", ["info_w=1", "info_categories=5"]),
    "CycleGAN + noise + InfoGAN code, seed 1": ("cyclegan_noise.yaml", ["info_w=1", "info_categories=5", "seed=1"]),
    "CycleGAN + noise + InfoGAN code, seed 2": ("cyclegan_noise.yaml", ["info_w=1", "info_categories=5", "seed=2"]),
}
COLUMNS = [("content_iou", "content IoU ↑", "{:.3f}"), ("coverage", "hue coverage ↑", "{:.2f}"),
           ("mode_entropy", "mode entropy (bits) ↑", "{:.2f}"), ("mode_accuracy", "ref. mode acc. ↑", "{:.2f}"),
           ("hue_error", "ref. hue error ↓", "{:.3f}"), ("realism_fd", "realism FD ↓", "{:.2f}"),
           ("no_shape", "no shape ↓", "{:.2f}")]


NOTES_MARKER = "<!-- Below: written by hand, kept when paper_table.py rewrites the file. -->"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def model_config(name: str, iterations: int):
    """The config a model of the table trains with: its config file and overrides, `iterations` long, with
    the file's own schedule stretched to that length (where its rate steps or starts to decay, as a
    fraction of its max_iter: a half for most; FastCUT's authors decay over the last quarter)."""
    from munit.methods import load_config

    config_file, overrides = MODELS[name]
    shipped = load_config(ROOT / "configs" / config_file, overrides)
    scaled = {key: max(round(getattr(shipped, key) / shipped.max_iter * iterations), 1)
              for key in ("step_size", "lr_decay_start") if getattr(shipped, key) is not None}
    return load_config(ROOT / "configs" / config_file, [*overrides, f"max_iter={iterations}",
                                                        *(f"{k}={v}" for k, v in scaled.items()),
                                                        f"snapshot_save_iter={iterations}",
                                                        f"image_save_iter={iterations}", "image_display_iter=100000"])


def train_model(name: str, runs: Path, iterations: int) -> Path:
    from munit.training.checkpoint import latest_checkpoint
    from munit.training.loop import train

    run = runs / slug(name)
    cfg = model_config(name, iterations)
    latest = latest_checkpoint(run)
    if latest is not None and latest.name == f"ckpt_{iterations:08d}.pt":
        return run
    import torch

    train(cfg, run, torch.device("cpu"), resume=latest is not None, progress=True)
    return run


def training_minutes(run: Path) -> float:
    """Training time of a run from its log (iterations between log lines over their measured rate), as the
    model card reads it."""
    from munit.card import training_summary

    return training_summary(run).get("training_minutes", 0.0)


def sample_figure(runs: dict[str, Path], path: Path, inputs: int = 3, styles: int = 4) -> None:
    """One row per method: for each of `inputs` test line drawings, the input and `styles` outputs."""
    import torch

    from munit.data import build_split
    from munit.inference import load_model
    from munit.visual import save_png, tile, to_uint8

    rows, names = [], []
    for name, run in runs.items():
        model = load_model(run)
        data = build_split(model.cfg, "test", model.method.paired)["a"]
        row = []
        for i in range(inputs):
            x = data[i].unsqueeze(0).expand(styles, -1, -1, -1)
            gen = torch.Generator().manual_seed(i)
            style = model.method.random_styles(styles, torch.device("cpu"), generator=gen)
            with torch.no_grad():
                y = model.method.translate(model.nets, x, "a2b", style if model.method.multimodal else None)
            row += [to_uint8(model.method.display(x[:1], "a"))[0], *to_uint8(y)]  # Label maps in colour.
        rows.append(row)
        names.append(name)
    image = tile(rows, (["input"] + [f"style {k + 1}" for k in range(styles)]) * inputs)
    save_png(image, path)


def table_lines(records: dict[str, dict]) -> dict[str, str]:
    """One table row per model, by name."""
    lines = {}
    for name, rec in records.items():
        cells = [fmt.format(rec["metrics"][key]) if key in rec["metrics"] else "–" for key, _, fmt in COLUMNS]
        lines[name] = f"| {name} | " + " | ".join(cells) + " |"
    return lines


def merge_results(records: dict[str, dict], train: float, path: Path, figure: Path) -> None:
    """Replace or add the rows of `records` in the table of `path` (rows in MODELS order) and say below
    the table which command measured them; the rest of the file is kept."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| method |")) + 2
    end = start
    while end < len(lines) and lines[end].startswith("| "):
        end += 1
    old = {line.split("|")[1].strip(): line for line in lines[start:end]}  # This table's rows only.
    rows = {**old, **table_lines(records)}
    ordered = [rows[name] for name in MODELS if name in rows] + [v for k, v in rows.items() if k not in MODELS]
    command = "python benchmarks/paper_table.py " + " ".join(sys.argv[1:])
    note = (f"Rows {', '.join(records)}: `{command.strip()}` (training {train:.0f} min; figure: "
            f"[{figure.name}](images/{figure.name})).")
    after = [line for line in lines[end:] if not line.startswith(f"Rows {', '.join(records)}:")]
    while after[:1] == [""]:
        after = after[1:]
    path.write_text("\n".join(lines[:start] + ordered + ["", note, ""] + after) + "\n")


SEEDS_START = "<!-- Across seeds: written by paper_table.py from the table above. -->"
SEEDS_END = "<!-- End of the seeds table. -->"
SPREAD = [("content IoU ↑", "{:.3f}"), ("hue coverage ↑", "{:.2f}"), ("ref. mode acc. ↑", "{:.2f}"),
          ("realism FD ↓", "{:.0f}")]


def seed_groups(table: list[str]) -> dict[str, list[dict[str, float]]]:
    """The table's rows grouped by model without its seed (", seed N"; no suffix is seed 0), each row's
    numeric cells by column label."""
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    groups: dict[str, list[dict[str, float]]] = {}
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        values = {label: float(cell) for label, cell in zip(header[1:], cells[1:], strict=True) if cell != "–"}
        groups.setdefault(re.sub(r", seed \d+$", "", cells[0]), []).append(values)
    return groups


def seeds_table(table: list[str]) -> list[str]:
    """Mean and range over seeds of each model of the table: what a user can expect from one run."""
    lines = ["| model | seeds | " + " | ".join(label for label, _ in SPREAD) + " |", "|" + "---|" * (len(SPREAD) + 2)]
    for name, rows in seed_groups(table).items():
        cells = []
        for label, fmt in SPREAD:
            values = [row[label] for row in rows if label in row]
            if not values:
                cells.append("–")
            elif len(values) == 1:
                cells.append(fmt.format(values[0]))
            else:
                mean = sum(values) / len(values)
                cells.append(f"{fmt.format(mean)} ({fmt.format(min(values))}-{fmt.format(max(values))})")
        lines.append(f"| {name} | {len(rows)} | " + " | ".join(cells) + " |")
    return lines


def write_seeds_table(path: Path) -> None:
    """(Re)write the across-seeds table of `path` just after the notes that follow the main table."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| method |"))
    end = start + 2
    while end < len(lines) and lines[end].startswith("| "):
        end += 1
    block = [SEEDS_START, "", "Across seeds (mean, and range in brackets, of the rows above):", "",
             *seeds_table(lines[start:end]), "", SEEDS_END]
    if SEEDS_START in lines:
        first, last = lines.index(SEEDS_START), lines.index(SEEDS_END)
        lines[first:last + 1] = block
    else:  # Before the columns' definitions, after the notes on which command measured which rows.
        at = next(i for i, line in enumerate(lines) if i > end and line.startswith("- **content IoU**"))
        lines[at:at] = [*block, ""]
    path.write_text("\n".join(lines) + "\n")


def write_results(records: dict[str, dict], args, wall: float, train: float, path: Path, figure: Path) -> None:
    header = "| method | " + " | ".join(label for _, label, _ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1), *table_lines(records).values()]
    command = "python benchmarks/paper_table.py " + " ".join(sys.argv[1:])
    rec = next(iter(records.values()))
    text = f"""# Results on the built-in benchmark

Produced by `{command.strip()}` on this machine (2 CPU cores): training {train:.0f} min in all (from the
runs' logs), this invocation {wall / 60:.0f} min (runs that already existed are reused, not trained again;
evaluation included). Every model: {args.iterations} iterations at 64 px, batch 1,
on `builtin:shapes` (line drawings -> filled shapes in five hue modes); evaluation: protocol `builtin`,
direction a2b, seed 0, {rec['num_inputs']} test inputs for content and realism, {rec.get('coverage_inputs', 100)}
inputs x {rec.get('coverage_outputs_per_input', 20)} random styles for hue coverage, 100 reference pairs.

{chr(10).join(lines)}

- **content IoU**: IoU between the translation's shape region and the input's true shape (1 = same shape,
  place and size; two unrelated shapes of this data score about 0.37).
- **hue coverage**: mean fraction of the five hue modes that an input's 20 random-style outputs reach (the
  diversity a random style should give); **mode entropy**: entropy of the hue modes over all outputs (the
  data: log2 5 = 2.32). A unimodal method (UNIT, CycleGAN) reaches one mode per input: 0.20.
- **ref. mode acc. / hue error**: reference-guided outputs (MUNIT's style encoder, BicycleGAN's encoder)
  whose hue mode is the reference's, and their mean circular hue distance to it.
- **realism FD**: Fréchet distance between translations and real test images of B in the features of a small
  classifier of B's shape and hue mode trained on the built-in data (munit.eval.features.builtin_classifier).
- **no shape**: outputs in which no shape can be found.
- LPIPS diversity, FID/KID with the Inception and IS/CIS (protocols `lpips-munit`, `fid`, `is-cis`) need
  pretrained weights that this machine cannot download; they are not in this table.

![outputs per method](images/{figure.name})

Rows of the figure, top to bottom: {", ".join(records)}. Each row: three test line drawings, each followed by
four random-style outputs (the same codes for every method).
"""
    if path.is_file() and NOTES_MARKER in path.read_text():  # Hand-written reading of the table is kept.
        text += "\n" + NOTES_MARKER + path.read_text().split(NOTES_MARKER, 1)[1]
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000, help="training iterations per model")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "paper_table")
    parser.add_argument("--only", nargs="+", choices=[slug(n) for n in MODELS], metavar="MODEL",
                        help="subset of models by slug, e.g. munit_fast_mode unit cyclegan")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--figure", type=Path, help="outputs per method (default: docs/images/results_samples.png)")
    args = parser.parse_args()
    import json

    from munit.eval.evaluate import evaluate

    start = time.perf_counter()
    names = [n for n in MODELS if not args.only or slug(n) in args.only]
    runs, records = {}, {}
    for name in names:
        print(f"== {name}", flush=True)
        runs[name] = train_model(name, args.runs, args.iterations)
        records[name] = evaluate(runs[name], "builtin", "builtin:shapes", "a2b", args.runs / "results.jsonl")
        print(json.dumps(records[name]["metrics"]), flush=True)
    figure = args.figure or args.results.parent / "images" / "results_samples.png"
    sample_figure(runs, figure)
    train = sum(training_minutes(run) for run in runs.values())
    if args.only and args.results.is_file():
        merge_results(records, train, args.results, figure)
    else:
        write_results(records, args, time.perf_counter() - start, train, args.results, figure)
    write_seeds_table(args.results)
    print(f"wrote {args.results} and {figure}")


if __name__ == "__main__":
    main()
