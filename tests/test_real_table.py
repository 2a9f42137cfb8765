"""benchmarks/real_table.py's measuring parts: the three-way split and the content metric."""

from __future__ import annotations

import importlib.util

import numpy as np
import torch
from PIL import Image

from helpers import ROOT

spec = importlib.util.spec_from_file_location("real_table", ROOT / "benchmarks" / "real_table.py")
real_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real_table)


def test_split_is_disjoint_complete_and_stable(tmp_path):
    rng = np.random.default_rng(0)
    for folder, count in (("trainA", 60), ("trainB", 80)):
        (tmp_path / "data" / folder).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / folder / f"{i}.png")
    split = real_table.make_split(tmp_path / "data", tmp_path / "split")
    parts = {"a": ["trainA", "judge/horse", "testA"], "b": ["trainB", "judge/zebra", "testB"]}
    for domain, count in (("a", 60), ("b", 80)):
        names = [sorted(p.name for p in (split / f).iterdir()) for f in parts[domain]]
        assert sum(len(n) for n in names) == count  # Every photo in exactly one part ...
        assert len(set().union(*names)) == count  # ... and no photo in two.
        assert all(len(n) > 0 for n in names)
        linked = [(split / f / n).resolve() for f, ns in zip(parts[domain], names, strict=True) for n in ns]
        assert all(p.parent.parent == tmp_path / "data" for p in linked)  # Links to the originals, not copies.
    again = real_table.make_split(tmp_path / "data", tmp_path / "split2")
    assert sorted(p.name for p in (again / "testA").iterdir()) == sorted(p.name for p in (split / "testA").iterdir())


def test_edge_correlation_measures_kept_structure():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=gen) * 2 - 1
    recoloured = x.flip(1) * 0.5  # Other colours and contrast, same layout.
    noise = torch.rand(4, 3, 32, 32, generator=gen) * 2 - 1
    torch.testing.assert_close(real_table.edge_correlation(x, x), torch.ones(4))
    assert real_table.edge_correlation(x, recoloured).min() > 0.3
    assert real_table.edge_correlation(x, noise).abs().max() < 0.2


def test_jitter_keeps_shape_and_range_and_changes_colour():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 16, 16, generator=gen) * 2 - 1
    y = real_table.jitter(x, gen)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert (y - x).abs().mean() > 0.05
