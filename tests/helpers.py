"""Shared test helpers: tiny configs, image files, golden-file access."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from munit.methods import config_from_dict

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT.parent / "shared" / "golden"


def golden_path(name: str) -> Path:
    path = GOLDEN / name
    if not path.is_file():
        pytest.skip(f"golden file {path} not present (it lives in the developers' shared/ folder, not in a clone)")
    return path


def tiny_config(**overrides):
    """A config that trains in well under a second per iteration: 32 px, small networks, built-in data."""
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
    return config_from_dict(raw)


def write_image(path: Path, mode: str = "RGB", size: tuple[int, int] = (40, 36), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[:, :, 0] if channels == 1 else arr, mode).save(path)
    return path
