"""Real photographs: horse2zebra at 64 px, trained here on a CPU budget, judged on horses no model saw.

    python benchmarks/real_table.py --data ../shared/data/horse2zebra64            # every model, two seeds
    python benchmarks/real_table.py --only munit munit_exact --seeds 0             # a subset
    python benchmarks/real_table.py --table-only                                   # rewrite the doc from runs

`--data` holds trainA/ (horses) and trainB/ (zebras): the CycleGAN release's training photographs, shorter
side 64 px. They are split by a hash of each file name into three parts that never mix: 40% to train the
translators (`SPLIT/trainA|trainB`), 45% to train the judge, a horse/zebra classifier (`SPLIT/judge/`), and
15% for validation (`SPLIT/testA|testB`): the horses translated and the zebras they are compared with.
The split is made of symbolic links under `--runs`; no image is copied.

For each validation horse, a model gives 5 random-style translations (and, if it copies references, 5
translations in the style of validation zebras). Reported:
- zebra: share of translations the judge calls zebra (p > 0.5);
- edges: Pearson correlation of the Sobel edge magnitudes of input and translation (content kept);
- diversity: mean distance in the judge's features between two translations of one input (all pairs);
- FD, KID x 1000: realism, Frechet and kernel distances in the judge's features against the validation
  zebras (the untouched horses are the "no translation" row).
Each model trains with `munit train` in its own process (`--config configs/...`, the seed and the split as
overrides); its wall time is measured there. Runs that finished are reused. Writes docs/results-real.md
(the table, merged: rows of models not evaluated in this call are kept, the hand-written notes below the
marker too) and docs/images/real_<model>.png (real_<model>_ema.png: its EMA generator) from the first seed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> (config file, overrides, what it is). Every run: the model's config with seed and data_root set.
MODELS = {  # The MUNIT runs name their mode (fast, munit's default since 2026-11-23, or exact).
    "munit": ("horse2zebra64.yaml", ["train_mode=fast", "ema_beta=0"], "MUNIT, the recipe before its EMA generator "
              "(until 2026-11-24): the paper's losses plus CUT's PatchNCE between each translation and its input "
              "(weight 2), three times the adversarial weight, fast mode"),
    "munit_exact": ("horse2zebra64.yaml", ["train_mode=exact", "ema_beta=0"], "the same, exact mode"),
    "munit_nce1": ("horse2zebra64.yaml", ["train_mode=fast", "ema_beta=0", "gan_w=1", "patch_nce_w=1"],
                   "the paper's losses plus PatchNCE (weight 1), the paper's adversarial weight, fast mode"),
    "munit_nce3": ("horse2zebra64.yaml", ["train_mode=fast", "ema_beta=0", "gan_w=3", "patch_nce_w=3"],
                   "PatchNCE (weight 3) with three times the adversarial weight, fast mode"),
    "munit_nce25": ("horse2zebra64.yaml", ["train_mode=fast", "ema_beta=0", "gan_w=3", "patch_nce_w=2.5"],
                    "PatchNCE (weight 2.5) with three times the adversarial weight, fast mode"),
    "munit_ms": ("horse2zebra64.yaml", ["train_mode=fast", "ema_beta=0", "ms_w=1"],
                 "the recipe plus the mode-seeking term (weight 1, as MSGAN/DRIT++), fast mode"),
    "munit_ema": ("horse2zebra64.yaml", ["train_mode=fast", "ema_beta=0.99"],
                  "the recipe before its EMA generator, with one of ema_beta 0.99, fast mode"),
    "munit_ema97": ("horse2zebra64.yaml", ["train_mode=fast", "ema_beta=0.97"],
                    "the recipe (since 2026-11-24): the same with an EMA generator (ema_beta 0.97), fast mode"),
    "munit_ema97_bf16": ("horse2zebra64.yaml", ["train_mode=fast", "ema_beta=0.97", "amp=bf16"],
                         "the recipe trained in mixed precision (amp bf16; normalisation, style MLP and losses in "
                         "float32)"),
    "munit_gan2": ("horse2zebra64.yaml", ["train_mode=fast", "ema_beta=0", "gan_w=2", "patch_nce_w=1"],
                   "PatchNCE (weight 1) with twice the adversarial weight, fast mode"),
    "munit_gan3": ("horse2zebra64.yaml", ["train_mode=fast", "ema_beta=0", "gan_w=3", "patch_nce_w=1"],
                   "PatchNCE (weight 1) with three times the adversarial weight, fast mode"),
    "munit_gan3_const": ("horse2zebra64.yaml",
                         ["train_mode=fast", "ema_beta=0", "gan_w=3", "patch_nce_w=1", "lr_policy=constant"],
                         "the same with no learning-rate decay, fast mode"),
    "munit_paper": ("horse2zebra64_paper.yaml", ["train_mode=fast"],
                    "MUNIT, the paper's losses and schedule at this size, fast mode"),
    "munit_paper_exact": ("horse2zebra64_paper.yaml", ["train_mode=exact"], "the same, exact mode"),
    "munit_paper_shared": ("horse2zebra64_paper.yaml", ["train_mode=fast", "dis_same_draws=true"],
                           "the same, D judging the generator pass's own fakes (fast mode before its fix)"),
    "munit_paper_cyc": ("horse2zebra64_paper.yaml", ["train_mode=fast", "recon_x_cyc_w=10", "ema_beta=0.999"],
                        "the paper's losses plus the explicit cycle loss (weight 10), fast mode"),
    "munit_paper_ds1": ("horse2zebra64_paper.yaml", ["train_mode=fast", "gen.n_downsample=1"],
                        "the paper's losses with a 32 x 32 content code (one downsampling), fast mode"),
    "munit_paper_diffaug": ("horse2zebra64_paper.yaml", ["train_mode=fast", "diffaug=color,translation,cutout"],
                            "the paper's losses with DiffAugment (color, translation, cutout), fast mode"),
    "munit_paper_cyc_hinge_sn_ttur": ("horse2zebra64_paper.yaml",
                                      ["train_mode=fast", "recon_x_cyc_w=10", "dis.gan_type=hinge", "dis.norm=sn",
                                       "lr=0.0002", "lr_dis=0.0008"],
                                      "the cycle-loss variant with NVlabs/imaginaire's discriminator training: "
                                      "hinge loss, spectral norm, D's lr 4x G's (G 2e-4, D 8e-4), fast mode"),
    "cyclegan": ("horse2zebra64_cyclegan.yaml", ["train_mode=fast"], "CycleGAN, fast mode"),
    "cut": ("horse2zebra64_cut.yaml", ["train_mode=fast"], "CUT, fast mode"),
    "unit": ("horse2zebra64_unit.yaml", ["train_mode=fast"], "UNIT, fast mode"),
}
NUM_STYLES = 5
NUM_REFS = 5
NOTES_MARKER = "<!-- Below: written by hand, kept when real_table.py rewrites the file. -->"


def bucket(name: str) -> int:
    return int(hashlib.md5(name.encode()).hexdigest(), 16) % 20


PARTS = {"train": range(12, 20), "judge": range(0, 9), "val": range(9, 12)}  # Twentieths of each domain.


def make_split(data: Path, out: Path) -> Path:
    """SPLIT/trainA|trainB (translators), SPLIT/judge/horse|zebra, SPLIT/testA|testB (validation)."""
    from munit.data.images import find_images

    folders = {("train", "a"): "trainA", ("train", "b"): "trainB", ("judge", "a"): "judge/horse",
               ("judge", "b"): "judge/zebra", ("val", "a"): "testA", ("val", "b"): "testB"}
    if (out / "done").exists():
        return out
    for domain, source in (("a", data / "trainA"), ("b", data / "trainB")):
        for path in find_images(source):
            part = next(p for p, twentieths in PARTS.items() if bucket(path.name) in twentieths)
            target = out / folders[(part, domain)] / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(path.resolve())
    (out / "done").write_text("")
    return out


def images(folder: Path) -> torch.Tensor:
    from munit.data.images import FileDataset, find_images

    data = FileDataset(find_images(folder), size=64, crop=(64, 64), channels=3, train=False)
    return torch.stack([data[i] for i in range(len(data))])


def jitter(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random brightness, contrast and saturation per image (up to full gray), so that the judge looks at
    stripes rather than at colours a translator could paint over a horse (green skies, savanna grass)."""
    n = x.shape[0]
    u = torch.rand(4, n, 1, 1, 1, generator=gen)
    gray = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    saturation = torch.where(u[0] < 0.2, torch.zeros_like(u[1]), 0.5 + u[1])
    x = gray + saturation * (x - gray)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (0.7 + 0.6 * u[2]) * (x - mean) + 0.3 * (u[3] - 0.5)
    return x.clamp(-1, 1)


def train_judge(split: Path, path: Path, iterations: int = 1200, batch_size: int = 32) -> dict:
    """The horse/zebra classifier, trained on the judge part (random crops, flips, colour jitter), and its
    accuracy on the validation horses and zebras."""
    import torch.nn.functional as F
    from tqdm import tqdm

    from munit.data.images import FileDataset, find_images, transform
    from munit.eval.classifier import Classifier, load_classifier, save_classifier
    from munit.training.checkpoint import safe_load

    horses, zebras = images(split / "testA"), images(split / "testB")
    if not path.exists():
        torch.manual_seed(0)
        gen, rng = torch.Generator().manual_seed(0), random.Random(0)
        data = [FileDataset(find_images(split / "judge" / c), size=64, crop=(64, 64), channels=3, train=True)
                for c in ("horse", "zebra")]
        decoded = [[d.open(i) for i in range(len(d))] for d in data]
        model = Classifier(3, 2, size=64)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / iterations)))
        for _ in tqdm(range(iterations), desc="judge", mininterval=5):
            labels = torch.randint(2, (batch_size,), generator=gen)  # Balanced classes.
            x = torch.stack([transform(rng.choice(decoded[int(c)]), 64, (64, 64), True, True, rng) for c in labels])
            loss = F.cross_entropy(model(jitter(x, gen)), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            correct = (model(horses).argmax(1) == 0).sum() + (model(zebras).argmax(1) == 1).sum()
        save_classifier(model, ["horse", "zebra"], path, float(correct) / (len(horses) + len(zebras)))
    model, classes = load_classifier(path)
    assert classes == ["horse", "zebra"], classes
    with torch.no_grad():
        per_class = ((model(horses).argmax(1) == 0).float().mean(), (model(zebras).argmax(1) == 1).float().mean())
    return {"model": model, "accuracy": safe_load(path)["test_accuracy"], "horses": float(per_class[0]),
            "zebras": float(per_class[1])}


def train_run(name: str, seed: int, split: Path, runs: Path) -> tuple[Path, float | None]:
    """Train (or reuse) one model; returns the run and its training wall time in seconds."""
    from munit.methods import load_config

    config_file, overrides, _ = MODELS[name]
    run = runs / f"{name}_s{seed}"
    args = [f"seed={seed}", f"data_root={split}", *overrides]
    max_iter = load_config(ROOT / "configs" / config_file, args).max_iter
    timing = run / "train_seconds.json"
    if not (run / "checkpoints" / f"ckpt_{max_iter:08d}.pt").exists():
        command = [sys.executable, "-m", "munit.cli", "train", "--config", str(ROOT / "configs" / config_file),
                   "--output", str(run), "--resume", *[a for o in args for a in ("--set", o)]]
        print(" ".join(command), flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        timing.write_text(json.dumps({"seconds": time.perf_counter() - start}))
    return run, json.loads(timing.read_text())["seconds"] if timing.exists() else None


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the luminance of (N, 3, H, W) images in [-1, 1]: (N, H-2, W-2)."""
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    gx = torch.nn.functional.conv2d(gray, kx[None, None])
    gy = torch.nn.functional.conv2d(gray, kx.t()[None, None])
    return (gx ** 2 + gy ** 2).sqrt()[:, 0]


def edge_correlation(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Per-image Pearson correlation of the edge magnitudes of inputs and outputs (same shape)."""
    a, b = edge_map(inputs).flatten(1), edge_map(outputs).flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-8)


@torch.no_grad()
def judge_outputs(judge, inputs: torch.Tensor, outputs: torch.Tensor, zebras: torch.Tensor) -> dict:
    """Metrics of translations `outputs` (N, K, 3, H, W) of `inputs` (N, 3, H, W)."""
    from munit.eval.metrics import FeatureNet, frechet_distance, kernel_distance

    n, k = outputs.shape[:2]
    flat = outputs.flatten(0, 1)
    p_zebra = torch.cat([judge(chunk).softmax(1)[:, 1] for chunk in flat.split(256)])
    feats = torch.cat([judge.features(chunk) for chunk in flat.split(256)]).view(n, k, -1)
    if k > 1:
        i, j = torch.triu_indices(k, k, 1)
        diversity = float((feats[:, i] - feats[:, j]).norm(dim=2).mean())
    else:
        diversity = 0.0
    net = FeatureNet(judge.features, judge.num_features, "judge")
    with torch.random.fork_rng():  # KID's subsets are drawn from the global generator: the same ones each row.
        torch.manual_seed(0)
        kid, _ = kernel_distance(net, zebras, flat, subsets=50)
    return {
        "zebra": float((p_zebra > 0.5).float().mean()),
        "edges": float(edge_correlation(inputs.repeat_interleave(k, 0), flat).mean()),
        "diversity": diversity,
        "fd": frechet_distance(net, zebras, flat),
        "kid_x1000": 1000 * kid,
    }


@torch.no_grad()
def evaluate_run(run: Path, judge, horses: torch.Tensor, zebras: torch.Tensor, grid: Path | None,
                 use_ema: bool = True) -> dict:
    from munit.inference import load_model
    from munit.visual import sample_grid, save_png

    model = load_model(run, use_ema=use_ema)
    method, nets = model.method, model.nets
    gen = torch.Generator().manual_seed(0)
    k = NUM_STYLES if method.multimodal else 1
    styles = torch.randn(k, model.cfg.gen.style_dim, 1, 1, generator=gen)
    outputs = []
    for x in horses.split(64):
        outputs.append(torch.stack([method.translate(nets, x, "a2b", s.expand(len(x), -1, -1, -1))
                                    for s in styles], 1))
    result = {"random": judge_outputs(judge, horses, torch.cat(outputs), zebras), "iteration": model.iteration}
    refs = zebras[torch.randperm(len(zebras), generator=gen)[:NUM_REFS]]
    if method.reference_guided:
        ref_styles = method.encode_style(nets, refs, "b")
        guided = torch.cat([torch.stack([method.translate(nets, x, "a2b", s.expand(len(x), -1, -1, -1))
                                         for s in ref_styles], 1) for x in horses.split(64)])
        result["reference"] = judge_outputs(judge, horses, guided, zebras)
    if grid is not None:
        display = horses[torch.randperm(len(horses), generator=gen)[:6]]
        columns = method.sample_columns(nets, display, refs[:3], "a2b", styles)
        save_png(sample_grid(columns, refs[:3] if method.reference_guided else None), grid)
    return result


def fmt(value: float | None, spec: str) -> str:
    return "" if value is None else spec.format(value)


TABLE_HEADER = ("| model | seed | iterations | time | zebra ↑ | edges ↑ | div. ↑ | FD ↓ | KID ↓ | ref. zebra "
                "| ref. edges |")


def row_line(row: dict) -> str:
    r, ref = row["random"], row.get("reference", {})
    minutes = f"{row['seconds'] / 60:.1f} min" if row.get("seconds") else ""
    return (f"| {row['model']} | {row['seed']} | {row['iteration']} | {minutes} | {r['zebra']:.2f} | "
            f"{r['edges']:.2f} | {r['diversity']:.2f} | {r['fd']:.2f} | {r['kid_x1000']:.0f} | "
            f"{fmt(ref.get('zebra'), '{:.2f}')} | {fmt(ref.get('edges'), '{:.2f}')} |")


def row_key(line: str) -> tuple[str, str]:
    """(model label without a hand-added mark, seed) of a table line: a new row replaces an old one."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return cells[0].removesuffix(" †").strip(), cells[1]


def model_name(label: str) -> str:
    """The MODELS name of a row label ("munit_paper_cyc, sampled with an EMA generator ..." -> its name)."""
    return label.split(",")[0].split(" ")[0]


def row_order(key: tuple[str, str]) -> tuple[int, int, str]:
    """Rows sorted as MODELS lists them, then by seed, an EMA row after its plain row."""
    label, seed = key
    name = model_name(label)
    index = list(MODELS).index(name) if name in MODELS else len(MODELS)
    return index, int(seed) if seed.isdigit() else 0, label


def old_rows(text: str) -> dict[tuple[str, str], str]:
    """The model rows of an earlier table (every line after the header but the no-translation row)."""
    lines = text.split("\n")
    if TABLE_HEADER not in lines:
        return {}
    rows = {}
    for line in lines[lines.index(TABLE_HEADER) + 2:]:
        if not line.startswith("|"):
            break
        if not line.startswith("| no translation"):
            rows[row_key(line)] = line
    return rows


def write_table(rows: list[dict], baseline: dict, judge: dict, out: Path) -> None:
    """Write the table to `out`, merging: rows of models not evaluated now stay as they were, rows of the
    same model and seed are replaced, and the hand-written notes below NOTES_MARKER are kept."""
    previous = out.read_text() if out.exists() else ""
    notes = previous.split(NOTES_MARKER, 1)[1] if NOTES_MARKER in previous else ""
    merged = old_rows(previous)
    for row in rows:
        merged[row_key(row_line(row))] = row_line(row)
    keys = sorted(merged, key=row_order)
    names = [n for n in MODELS if any(model_name(label) == n for label, _ in keys)]
    command = f"python benchmarks/real_table.py --only {' '.join(repr(n) for n in names)}"  # Quoted: the docs
    # test reads "munit <word>" as a munit command.
    lines = [
        "# Results on real photographs: horse2zebra at 64 px",
        "",
        "<!-- Written by benchmarks/real_table.py; edit below the marker at the end. -->",
        "",
        f"Reproduce: `{command}` (2 CPU cores). The judge, a horse/zebra classifier trained on a part of",
        f"the photographs no translator saw, is {100 * judge['accuracy']:.1f}% accurate on the validation photos",
        f"({100 * judge['horses']:.0f}% of the horses called horse, {100 * judge['zebras']:.0f}% of the zebras "
        "called zebra).",
        "Each row: horse -> zebra on the validation horses, 5 random styles per input (5 reference zebras",
        "for \"ref.\"); zebra = share judged zebra, edges = edge correlation with the input, div. = mean",
        "feature distance between two outputs of one input, FD / KID x1000 = realism against real",
        "validation zebras (lower is better). Time: `munit train` wall time on this machine.",
        "",
        TABLE_HEADER,
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| no translation (the horses) | | | | {baseline['zebra']:.2f} | {baseline['edges']:.2f} | | "
        f"{baseline['fd']:.2f} | {baseline['kid_x1000']:.0f} | | |",
        *[merged[key] for key in keys],
    ]
    lines += ["", "Models:", ""]
    lines += [f"- `{name}`: {MODELS[name][2]} (`configs/{MODELS[name][0]}`"
              f"{', ' + ', '.join(MODELS[name][1]) if MODELS[name][1] else ''})" for name in names]
    out.write_text("\n".join(lines) + "\n\n" + NOTES_MARKER + (notes or "\n"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "horse2zebra64",
                        help="folder with trainA/ (horses) and trainB/ (zebras) at 64 px")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "real")
    parser.add_argument("--only", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--table-only", action="store_true", help="evaluate finished runs only, train nothing")
    parser.add_argument("--train-only", action="store_true", help="train the runs, evaluate nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results-real.md")
    args = parser.parse_args(argv)
    if not (args.data / "trainA").is_dir() or not (args.data / "trainB").is_dir():
        sys.exit(f"error: {args.data}: expected trainA/ and trainB/ of horse2zebra (64 px); pass --data")
    split = make_split(args.data, args.runs / "split")
    if args.train_only:
        for name in args.only:
            for seed in args.seeds:
                train_run(name, seed, split, args.runs)
        return
    judge = train_judge(split, args.runs / "judge.pt")
    horses, zebras = images(split / "testA"), images(split / "testB")
    with torch.no_grad():
        baseline = judge_outputs(judge["model"], horses, horses[:, None], zebras)
    rows = []
    for name in args.only:
        for seed in args.seeds:
            run = args.runs / f"{name}_s{seed}"
            if args.table_only and not (run / "checkpoints").is_dir():
                continue
            if not args.table_only:
                run, _ = train_run(name, seed, split, args.runs)
            timing = run / "train_seconds.json"
            seconds = json.loads(timing.read_text())["seconds"] if timing.exists() else None
            ema_beta = yaml.safe_load((run / "config.yaml").read_text()).get("ema_beta", 0)
            for ema in (False, True) if ema_beta > 0 else (False,):  # EMA does not change the trained weights.
                metrics_file = run / f"real_metrics{'_ema' if ema else ''}.json"
                if not metrics_file.exists():
                    grid = (ROOT / "docs" / "images" / f"real_{name}{'_ema' if ema else ''}.png"
                            if seed == args.seeds[0] else None)
                    metrics = evaluate_run(run, judge["model"], horses, zebras, grid, use_ema=ema)
                    metrics_file.write_text(json.dumps(metrics))
                label = f"{name}, sampled with an EMA generator (ema_beta {ema_beta})" if ema else name
                row = {"model": label, "seed": seed, "seconds": seconds, **json.loads(metrics_file.read_text())}
                rows.append(row)
                print(json.dumps(row), flush=True)
    write_table(rows, baseline, judge, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
