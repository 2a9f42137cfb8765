"""Why BicycleGAN's latent went unused on the built-in data: its cVAE half alone, variant by variant.

    python benchmarks/bicyclegan_latent.py                     # 4 variants x 1,200 iterations, ~10 min
    python benchmarks/bicyclegan_latent.py --iterations 600 --variants "kaiming norm"

Trains only the cVAE of BicycleGAN (U-Net G, encoder E; L1 10 to the photo, KL 0.01; no discriminators, no
latent regression) on the built-in paired line drawings -> filled shapes, 64 px, batch 1, Adam 2e-4 (0.5,
0.999), seed 0, for each variant of E's initialisation (the config's N(0, 0.02) or He) and of where G takes
the latent (`gen.where_add`: concatenated to every down level, or scaling and shifting the normalised up
levels). Prints, for 40 test pairs: how many reconstructions G(A, mu(B)) show B's hue mode (chance about
0.2 where G ignores z), and how much the code mu differs between images (its standard deviation across
them, averaged over its 8 entries).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = ("gaussian all", "kaiming all", "gaussian norm", "kaiming norm")


def run(encoder_init: str, where_add: str, iterations: int, seed: int = 0) -> dict[str, float]:
    import numpy as np
    import torch

    from munit.data import build_split
    from munit.eval.groundtruth import fill_hue, hue_mode
    from munit.methods import load_config
    from munit.nets.baselines import LatentEncoder, UnetGenerator
    from munit.nets.blocks import init_weights
    from munit.visual import to_uint8

    cfg = load_config(ROOT / "configs" / "bicyclegan.yaml")
    train, test = build_split(cfg, "train", True), build_split(cfg, "test", True)
    torch.manual_seed(seed)
    gen = UnetGenerator(3, 3, 6, cfg.gen.dim, latent_dim=cfg.gen.style_dim, dropout=False, where_add=where_add)
    init_weights(gen, "gaussian")
    gen.reset_modulation()
    enc = LatentEncoder(3, cfg.gen.style_dim, cfg.gen.dim, 4)
    init_weights(enc, encoder_init)
    opt = torch.optim.Adam([*gen.parameters(), *enc.parameters()], cfg.lr, betas=(cfg.beta1, 0.999))
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        i = int(rng.integers(len(train["a"])))
        x_a, x_b = train["a"][i][None], train["b"][i][None]
        mu, logvar = enc(x_b)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        kl = torch.mean(-0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1))
        loss = cfg.recon_x_w * (gen(x_a, z) - x_b).abs().mean() + cfg.recon_kl_w * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
    gen.eval()
    with torch.no_grad():
        x_a = torch.stack([test["a"][i] for i in range(40)])
        x_b = torch.stack([test["b"][i] for i in range(40)])
        mu, _ = enc(x_b)
        outputs = to_uint8(gen(x_a, mu))
    hits = [hue_mode(fill_hue(img)) == test["b"].factors(i).hue_mode for i, img in enumerate(outputs)]
    return {"hue": float(np.mean(hits)), "spread": mu.std(0).mean().item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1200)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS,
                        help="encoder init and where_add, e.g. 'kaiming norm'")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    print("| E init | where_add | reconstructed hue mode right | code spread across images | minutes |")
    print("|---|---|---|---|---|")
    for variant in args.variants:
        encoder_init, where_add = variant.split()
        start = time.perf_counter()
        result = run(encoder_init, where_add, args.iterations)
        print(f"| {encoder_init} | {where_add} | {result['hue']:.2f} | {result['spread']:.3f} | "
              f"{(time.perf_counter() - start) / 60:.1f} |", flush=True)


if __name__ == "__main__":
    main()
