"""Shared test helpers: tiny configs, image files, golden-file access."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from munit.methods import config_from_dict

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT.parent / "shared" / "golden"


def golden_path(name: str) -> Path:
    path = GOLDEN / name
    if not path.is_file():
        pytest.skip(f"golden file {path} not present (it lives in the developers' shared/ folder, not in a clone)")
    return path


def tiny_raw(**overrides) -> dict:
    """The mapping of a config that trains in well under a second per iteration: 32 px, small networks,
    built-in data; sections (gen, dis) in `overrides` are merged key by key."""
    raw = {
        "data_root": "builtin:shapes", "new_size": 32, "crop_image_height": 32, "crop_image_width": 32,
        "builtin_train_size": 64, "builtin_test_size": 8, "batch_size": 2, "max_iter": 4, "num_workers": 0,
        "lr_policy": "constant", "log_iter": 1, "image_save_iter": 2, "image_display_iter": 2,
        "snapshot_save_iter": 2, "display_size": 2, "keep_last": 0,
        "gen": {"dim": 4, "mlp_dim": 8, "style_dim": 4, "n_downsample": 1, "n_res": 1},
        "dis": {"dim": 4, "n_layer": 2, "num_scales": 2},
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            raw[key] = {**raw.get(key, {}), **value}
        else:
            raw[key] = value
    return raw


def tiny_config(**overrides):
    """`tiny_raw` as a checked config."""
    return config_from_dict(tiny_raw(**overrides))


def write_tiny_config(path: Path, **overrides) -> Path:
    """`tiny_raw` as a YAML file, for the command line."""
    path.write_text(yaml.safe_dump(tiny_raw(**overrides)))
    return path


# `--set` overrides that shrink a shipped config to test size (methods ignore the keys they do not use).
TINY = ["new_size=32", "crop_image_height=32", "crop_image_width=32", "batch_size=2", "lr_policy=constant",
        "log_iter=1", "display_size=2", "builtin_train_size=64", "builtin_test_size=4", "num_workers=0",
        "gen.dim=8", "dis.dim=8", "gen.n_res=1", "gen.mlp_dim=16", "dis.n_layer=2", "dis.num_scales=2"]


def batch(cfg, seed: int) -> torch.Tensor:
    """A seeded batch of random images for domain A or B of `cfg`."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(cfg.batch_size, 3, cfg.crop_image_height, cfg.crop_image_width, generator=gen) * 2 - 1


def step_inputs(cfg, seed_a: int, seed_b: int):
    """(x_a, x_b) of one training step of cfg's method from seeded random values: two image batches, or for
    a multi-domain method ((x, y), (x_ref, x_ref2, y_trg, z, z2)) as munit.data.domains makes them."""
    from munit.data.domains import domain_names
    from munit.methods import METHODS

    method = METHODS[cfg.method]
    if not method.multi_domain:
        return batch(cfg, seed_a), batch(cfg, seed_b)
    if not method.reference_batches:
        gen = torch.Generator().manual_seed(seed_a * 1000 + seed_b)
        return (batch(cfg, seed_a), torch.randint(len(domain_names(cfg)), (cfg.batch_size,), generator=gen)), ()
    gen = torch.Generator().manual_seed(seed_a * 1000 + seed_b)
    n, k = cfg.batch_size, len(domain_names(cfg))
    labels = [torch.randint(k, (n,), generator=gen) for _ in range(2)]
    codes = [torch.randn(n, cfg.gen.latent_dim, generator=gen) for _ in range(2)]
    return (batch(cfg, seed_a), labels[0]), (batch(cfg, seed_b), batch(cfg, seed_b + 7), labels[1], *codes)


def params(trainer) -> dict[str, torch.Tensor]:
    """Copies of every network parameter of a trainer, by "<network>.<parameter>"."""
    return {f"{n}.{k}": p.detach().clone() for n, m in trainer.nets.items() for k, p in m.named_parameters()}


def export_inputs(names, model, batch: int, height: int, width: int) -> dict[str, torch.Tensor]:
    """Seeded inputs for an exported graph's named inputs: images, style codes, content codes."""
    gen = torch.Generator().manual_seed(1)
    out = {}
    for name in names:
        if name.startswith("image_"):
            out[name] = torch.rand(batch, model.cfg.input_dim(name[-1]), height, width, generator=gen) * 2 - 1
        elif name == "style":
            out[name] = torch.randn(batch, model.cfg.gen.style_dim, generator=gen)
        elif name == "attributes":
            out[name] = torch.rand(batch, len(model.method.domains), generator=gen)
        else:  # A content code of an image of that size.
            image = torch.rand(batch, 3, height, width, generator=gen) * 2 - 1
            out[name] = model.method.encode_content(model.nets, image, "a")
    return out


def write_image(path: Path, mode: str = "RGB", size: tuple[int, int] = (40, 36), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[:, :, 0] if channels == 1 else arr, mode).save(path)
    return path
