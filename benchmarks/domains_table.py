"""StarGAN v2 on the built-in data as five domains (its hue modes), beside MUNIT trained pairwise on the same
budget: the share of outputs that land in the requested domain, content kept, diversity (munit.eval.domains).

    python benchmarks/domains_table.py                        # two StarGAN v2 seeds and MUNIT red<->blue
    python benchmarks/domains_table.py --iterations 600 --seeds 0
    python benchmarks/domains_table.py --seeds 0 1 --munit-seeds 0
    python benchmarks/domains_table.py --figure docs/images/results_stargan_v2.png

StarGAN v2 trains with configs/stargan_v2.yaml; MUNIT with configs/demo.yaml on the red and the blue
domains of the same images (written once as trainA/trainB/testA/testB folders under --runs). Both are
evaluated on the test images of each domain, latent- and reference-guided; StarGAN v2 over all 20 ordered
pairs and on red<->blue alone, MUNIT on red<->blue. Prints a markdown table; runs that already finished in
--runs are reused.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paper_table import training_minutes  # noqa: E402 (after the path it needs)

PAIR = ("red", "blue")  # MUNIT's two domains.
COLUMNS = [("latent_accuracy", "latent: in target domain ↑"), ("reference_accuracy", "reference: in target domain ↑"),
           ("content_iou", "content IoU ↑"), ("diversity", "diversity (L1) ↑")]


def train_run(config: str, run: Path, iterations: int, overrides: list[str]) -> tuple[Path, float]:
    """Train (or reuse) a run; returns it and its training minutes (from its log)."""
    import torch

    from munit.methods import load_config
    from munit.training.checkpoint import latest_checkpoint
    from munit.training.loop import train

    cfg = load_config(ROOT / "configs" / config, [*overrides, f"max_iter={iterations}",
                                                  f"snapshot_save_iter={iterations}", f"image_save_iter={iterations}",
                                                  "image_display_iter=100000"])
    latest = latest_checkpoint(run)
    if latest is None or latest.name != f"ckpt_{iterations:08d}.pt":
        train(cfg, run, torch.device("cpu"), resume=latest is not None, progress=True)
    return run, training_minutes(run)


def write_pair_folders(cfg, root: Path) -> Path:
    """The built-in red and blue images of `cfg` (a StarGAN v2 config) as a two-domain folder layout."""
    from munit.data.domains import build_domains
    from munit.visual import save_png, to_pil

    if (root / "done").is_file():
        return root
    for split in ("train", "test"):
        data = build_domains(dataclasses.replace(cfg, domains=",".join(PAIR), flip=False), split)
        for part, letter in zip(data.parts, "AB", strict=True):
            folder = root / f"{split}{letter}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(len(part)):  # No flip; the crop is the whole image: the images as they are.
                save_png(to_pil(part[(i, 0)]), folder / f"{i:05d}.png")
    (root / "done").write_text("")
    return root


def evaluate_stargan(run: Path) -> dict:
    from munit.data import build_data
    from munit.data.domains import domain_names
    from munit.eval.domains import domain_metrics
    from munit.inference import load_model

    model = load_model(run)
    data = build_data(model.cfg, "test", type(model.method))
    return domain_metrics(model.method, model.nets, data, domain_names(model.cfg))


def evaluate_munit(run: Path, stargan_cfg) -> dict:
    """MUNIT's red->blue (a2b) and blue->red (b2a) on the built-in test images (their true factors known)."""
    from munit.data.domains import build_domains
    from munit.eval.domains import domain_metrics
    from munit.inference import load_model

    model = load_model(run)
    data = build_domains(dataclasses.replace(stargan_cfg, domains=",".join(PAIR)), "test")
    import torch

    def translate(x, source, target, style_source, gen):
        direction = model.method.direction("a2b" if source == PAIR[0] else "b2a")
        if style_source == "latent":
            style = model.method.styles(model.nets, len(x), x.device, gen, domain=direction.target)
        else:
            part = data.parts[PAIR.index(target)]
            refs = torch.stack([part[i] for i in torch.randint(len(part), (len(x),), generator=gen).tolist()])
            style = model.method.styles(model.nets, len(x), x.device, references=refs, domain=direction.target)
        return model.method.translate(model.nets, x, direction, style)

    return domain_metrics(model.method, model.nets, data, list(PAIR), translate_pair=translate)


def pair_mean(result: dict) -> dict:
    rows = [result["pairs"][f"{a}->{b}"] for a, b in (PAIR, PAIR[::-1])]
    return {key: sum(r[key] for r in rows) / 2 for key in rows[0]}


def row(name: str, metrics: dict, minutes: float) -> str:
    return f"| {name} | " + " | ".join(f"{metrics[k]:.2f}" for k, _ in COLUMNS) + f" | {minutes:.0f} |"


def figure(run: Path, path: Path) -> None:
    """One row per source domain (a test image of it), one column per target domain: latent-guided outputs
    of one random code, then reference-guided ones."""
    import torch

    from munit.data import build_data
    from munit.data.domains import domain_names
    from munit.inference import load_model
    from munit.visual import save_png, tile, to_uint8

    model = load_model(run)
    names = domain_names(model.cfg)
    data = build_data(model.cfg, "test", type(model.method))
    gen = torch.Generator().manual_seed(0)
    rows = []
    with torch.no_grad():
        for s in range(len(names)):
            x = data.parts[s][0][None]
            latent = [model.method.translate(model.nets, x, t, model.method.styles(model.nets, 1, x.device, gen,
                                                                                   domain=t)) for t in names]
            refs = [model.method.translate(model.nets, x, t, model.method.styles(
                model.nets, 1, x.device, references=data.parts[i][1][None], domain=t)) for i, t in enumerate(names)]
            rows.append([to_uint8(x)[0], *(to_uint8(y)[0] for y in latent), *(to_uint8(y)[0] for y in refs)])
    save_png(tile(rows, ["input", *(f"to {t}" for t in names), *(f"ref {t}" for t in names)]), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--munit-seeds", type=int, nargs="+",
                        help="seeds of the pairwise MUNIT runs (default: --seeds)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "domains_table")
    parser.add_argument("--figure", type=Path, help="write StarGAN v2's translations (first seed) to this PNG")
    args = parser.parse_args()
    from munit.methods import load_config

    start = time.perf_counter()
    stargan_cfg = load_config(ROOT / "configs" / "stargan_v2.yaml")
    pair_root = write_pair_folders(stargan_cfg, args.runs / "data_red_blue")
    lines = ["| model | " + " | ".join(label for _, label in COLUMNS) + " | training min |",
             "|" + "---|" * (len(COLUMNS) + 2)]
    results = {}
    for seed in args.seeds:
        run, minutes = train_run("stargan_v2.yaml", args.runs / f"stargan_v2_seed{seed}", args.iterations,
                                 [f"seed={seed}"])
        result = results[f"stargan_v2_seed{seed}"] = evaluate_stargan(run)
        lines.append(row(f"StarGAN v2, seed {seed}, all 20 pairs", result["mean"], minutes))
        lines.append(row(f"StarGAN v2, seed {seed}, red<->blue", pair_mean(result), minutes))
        if args.figure and seed == args.seeds[0]:
            figure(run, args.figure)
    for seed in args.munit_seeds or args.seeds:
        run, minutes = train_run("demo.yaml", args.runs / f"munit_red_blue_seed{seed}", args.iterations,
                                 [f"seed={seed}", f"data_root={pair_root}", "train_mode=exact"])
        result = results[f"munit_red_blue_seed{seed}"] = evaluate_munit(run, stargan_cfg)
        lines.append(row(f"MUNIT red<->blue (pairwise), seed {seed}", result["mean"], minutes))
    (args.runs / "results.json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))
    print(f"\n{args.iterations} iterations per model; `python benchmarks/domains_table.py "
          f"{' '.join(sys.argv[1:])}` in {(time.perf_counter() - start) / 60:.0f} min")


if __name__ == "__main__":
    main()
