"""InfoGAN (Chen et al., NeurIPS 2016) on the built-in line drawings: does a categorical code take the
shape kind?

    python benchmarks/infogan_shapes.py                      # seeds 0 and 1, 2,000 iterations each
    python benchmarks/infogan_shapes.py --seeds 0 --iterations 500

Trains a small unconditional InfoGAN per seed on domain A of builtin:shapes at 32 px (black outlines of
four shape kinds at random places, sizes and angles; no colour): a generator from noise z (16-d), a
categorical code c of 4 values and 2 continuous codes; a discriminator whose last features also feed Q,
the head that must recover the codes (munit.losses.code_recovery_loss, weight 1); Adam 2e-4 for D and Q,
1e-3 for G (the paper's), betas (0.5, 0.999), batch 64, non-saturating GAN loss. Then it generates 1,000
images per value of c and classifies their shape kind with a classifier of the line drawings (trained on
first use on the data's true shape kinds). Printed per seed: how the values of c split over the shape
kinds, and the share of images that the best one-to-one assignment of values to kinds explains (chance:
about 25%), with the same figure for the untrained generator.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from munit.data.builtin import SHAPES, ShapesDataset  # noqa: E402
from munit.eval.classifier import builtin_labelled, load_classifier, save_classifier, train_classifier  # noqa: E402
from munit.losses import code_recovery_loss, dis_loss, gen_adv_loss  # noqa: E402
from munit.nets.dcgan import CoupledGenerator, CoupledTrunk, DiscoDiscriminator  # noqa: E402

SIZE, NOISE, CATEGORIES, CONTINUOUS, BATCH = 32, 16, 4, 2, 64
CODE = CATEGORIES + CONTINUOUS


class InfoDiscriminator(nn.Module):
    """D's layers, its logit, and Q on its last features: (logits, predicted codes)."""

    def __init__(self, dim: int = 32):
        super().__init__()
        self.body = DiscoDiscriminator(3, dim, SIZE)
        self.q = nn.Sequential(nn.Flatten(), nn.LazyLinear(128), nn.LeakyReLU(0.2), nn.Linear(128, CODE))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, features = self.body.features(x)
        return logits, self.q(features[-1])


def draw_codes(n: int, gen: torch.Generator, value: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise (n, NOISE) and codes (n, CODE): one-hot c (uniform, or `value`), then the continuous codes
    uniform in [-1, 1] as in the paper."""
    picks = torch.randint(CATEGORIES, (n,), generator=gen) if value is None else torch.full((n,), value)
    codes = torch.cat([F.one_hot(picks, CATEGORIES).float(), torch.rand(n, CONTINUOUS, generator=gen) * 2 - 1], 1)
    return torch.randn(n, NOISE, generator=gen), codes


def train(seed: int, iterations: int) -> CoupledGenerator:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    data = ShapesDataset("a", "train", 10000, seed=seed, size=SIZE, crop=(SIZE, SIZE), channels=3, train=False)
    images = torch.stack([data[i] for i in range(len(data))])  # 10,000 x 3 x 32 x 32 floats: 120 MB.
    g = CoupledGenerator(CoupledTrunk(NOISE + CODE, SIZE, 32), 3)
    d = InfoDiscriminator()
    d(images[:2])  # Sizes Q's lazy layer.
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999))
    start = time.perf_counter()
    for it in range(iterations):
        real = images[torch.randint(len(images), (BATCH,), generator=gen)]
        z, c = draw_codes(BATCH, gen)
        fake = g(torch.cat([z, c], 1))
        logits_fake, q_fake = d(fake.detach())
        logits_real, _ = d(real)
        loss_d = dis_loss([logits_fake], [logits_real], "nsgan") + code_recovery_loss(q_fake, c, CATEGORIES)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        logits_fake, q_fake = d(fake)
        loss_g = gen_adv_loss([logits_fake], "nsgan") + code_recovery_loss(q_fake, c, CATEGORIES)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if (it + 1) % 500 == 0:
            print(f"  seed {seed} iteration {it + 1}: D {loss_d.item():.3f}, G+Q {loss_g.item():.3f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    return g.eval()


def kind_counts(g: CoupledGenerator, classifier: nn.Module, seed: int, per_value: int = 1000) -> torch.Tensor:
    """(CATEGORIES, len(SHAPES)): how the generated images of each value of c are classified."""
    gen = torch.Generator().manual_seed(seed + 12345)
    counts = torch.zeros(CATEGORIES, len(SHAPES))
    with torch.no_grad():
        for value in range(CATEGORIES):
            z, c = draw_codes(per_value, gen, value)
            kinds = classifier(g(torch.cat([z, c], 1))).argmax(1)
            counts[value] = torch.bincount(kinds, minlength=len(SHAPES)).float()
    return counts


def best_assignment(counts: torch.Tensor) -> tuple[float, tuple[int, ...]]:
    """The share of images explained by the best one-to-one map of code values to shape kinds."""
    best = max(itertools.permutations(range(len(SHAPES)), CATEGORIES),
               key=lambda kinds: sum(counts[v, k] for v, k in enumerate(kinds)))
    return float(sum(counts[v, k] for v, k in enumerate(best)) / counts.sum()), best


def shape_classifier(path: Path) -> nn.Module:
    if not path.is_file():
        train_set = builtin_labelled("a", "train", 4000, SIZE)
        model, acc = train_classifier(train_set, builtin_labelled("a", "test", 400, SIZE), size=SIZE)
        save_classifier(model, train_set.classes, path, acc)
        print(f"shape classifier of the line drawings: {acc:.1%} accurate on 400 test drawings")
    return load_classifier(path)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "infogan")
    args = parser.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)
    classifier = shape_classifier(args.runs / f"shape_classifier_{SIZE}px.pt")
    rows = []
    for seed in args.seeds:
        start = time.perf_counter()
        torch.manual_seed(seed)
        untrained = CoupledGenerator(CoupledTrunk(NOISE + CODE, SIZE, 32), 3).eval()
        before, _ = best_assignment(kind_counts(untrained, classifier, seed))
        g = train(seed, args.iterations)
        counts = kind_counts(g, classifier, seed)
        share, kinds = best_assignment(counts)
        rows.append((seed, share, before, kinds, counts, time.perf_counter() - start))
    print(f"\nInfoGAN on builtin:shapes line drawings, {SIZE} px, {args.iterations} iterations, batch {BATCH}")
    print("| seed | explained by c (best 1:1) | untrained G | c = 0, 1, 2, 3 -> | minutes |")
    print("|---|---|---|---|---|")
    for seed, share, before, kinds, counts, seconds in rows:
        purity = ", ".join(f"{SHAPES[k]} {counts[v, k] / counts[v].sum():.0%}" for v, k in enumerate(kinds))
        print(f"| {seed} | {share:.1%} | {before:.1%} | {purity} | {seconds / 60:.1f} |")


if __name__ == "__main__":
    main()
