"""benchmarks/real_table.py's measuring parts: the three-way split, the content metric, the merged table."""

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


def test_judged_metrics_do_not_depend_on_the_global_generator():
    # KID averages over random subsets; two evaluations of the same outputs must give one table row.
    from munit.eval.classifier import Classifier

    torch.manual_seed(0)
    judge = Classifier(3, 2, size=16, width=4).eval()
    inputs, zebras = torch.rand(6, 3, 16, 16) * 2 - 1, torch.rand(8, 3, 16, 16) * 2 - 1
    outputs = torch.rand(6, 2, 3, 16, 16) * 2 - 1
    first = real_table.judge_outputs(judge, inputs, outputs, zebras)
    torch.manual_seed(123)  # Another state, as after training or another row's evaluation.
    second = real_table.judge_outputs(judge, inputs, outputs, zebras)
    assert first == second
    assert first["kid_x1000"] != 0


def test_jitter_keeps_shape_and_range_and_changes_colour():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 16, 16, generator=gen) * 2 - 1
    y = real_table.jitter(x, gen)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert (y - x).abs().mean() > 0.05


def metrics_row(model: str, seed: int, zebra: float) -> dict:
    scores = {"zebra": zebra, "edges": 0.5, "diversity": 1.0, "fd": 10.0, "kid_x1000": 300.0}
    return {"model": model, "seed": seed, "seconds": 60.0, "iteration": 2500, "random": scores}


def test_table_merges_rows_and_keeps_notes(tmp_path):
    out = tmp_path / "results.md"
    judge = {"accuracy": 0.8, "horses": 0.8, "zebras": 0.8}
    baseline = {"zebra": 0.15, "edges": 1.0, "fd": 39.0, "kid_x1000": 1000.0}
    real_table.write_table([metrics_row("cyclegan", 0, 0.26), metrics_row("munit", 0, 0.40)], baseline, judge, out)
    text = out.read_text().replace("| munit | 0 |", "| munit † | 0 |")  # A mark added by hand.
    out.write_text(text + "A note written by hand.\n")
    real_table.write_table([metrics_row("munit", 0, 0.78), metrics_row("munit", 1, 0.76)], baseline, judge, out)
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| munit") or line.startswith("| cyclegan")]
    assert [r.split("|")[1:3] for r in rows] == [[" munit ", " 0 "], [" munit ", " 1 "], [" cyclegan ", " 0 "]]
    assert "| 0.78 |" in rows[0] and "| 0.76 |" in rows[1]  # Re-evaluated rows replace the old ones ...
    assert "| 0.26 |" in rows[2]  # ... rows not evaluated now are kept ...
    assert text.endswith("A note written by hand.\n")  # ... and so are the notes.
    assert "--only 'munit' 'cyclegan'`" in text and "- `cyclegan`:" in text
