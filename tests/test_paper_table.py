"""benchmarks/paper_table.py --only: the chosen rows replace or join the table; the rest of the file stays."""

from __future__ import annotations

import importlib.util
import sys

from helpers import ROOT


def load_paper_table():
    spec = importlib.util.spec_from_file_location("paper_table", ROOT / "benchmarks" / "paper_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_merge_replaces_and_adds_rows_in_model_order_and_keeps_the_rest(tmp_path, monkeypatch):
    table = load_paper_table()
    header = "| method | " + " | ".join(label for _, label, _ in table.COLUMNS) + " |"
    path = tmp_path / "results.md"
    path.write_text("# Results\n\nintro\n\n" + header + "\n|" + "---|" * (len(table.COLUMNS) + 1) + "\n"
                    "| MUNIT, exact mode | old |\n| UNIT | kept |\n| GcGAN | stale |\n\n- notes kept\n\n"
                    "| seed | other table |\n|---|---|\n| 0 | 54% |\n")
    metrics = {"content_iou": 0.5, "coverage": 0.2, "mode_entropy": 0.0, "realism_fd": 12.0, "no_shape": 0.0}
    monkeypatch.setattr(sys, "argv", ["paper_table.py", "--only", "gcgan", "discogan"])
    for _ in range(2):  # A second merge replaces its own note instead of adding one.
        table.merge_results({"GcGAN": {"metrics": metrics}, "DiscoGAN": {"metrics": metrics}}, 3.0, path,
                            tmp_path / "fig.png")
    lines = path.read_text().splitlines()
    rows = [line.split("|")[1].strip() for line in lines if line.startswith("| ") and "method" not in line]
    assert rows == ["MUNIT, exact mode", "UNIT", "DiscoGAN", "GcGAN", "seed", "0"]  # Another table's rows stay in it.
    assert "| UNIT | kept |" in lines and "| MUNIT, exact mode | old |" in lines and "stale" not in path.read_text()
    assert "| GcGAN | 0.500 | 0.20 | 0.00 | – | – | 12.00 | 0.00 |" in lines
    notes = [line for line in lines if line.startswith("Rows GcGAN, DiscoGAN:")]
    assert len(notes) == 1 and "--only gcgan discogan" in notes[0]
    assert lines[-5:] == ["- notes kept", "", "| seed | other table |", "|---|---|", "| 0 | 54% |"] and "intro" in lines
    assert lines[lines.index(notes[0]) - 1] == "" and lines[lines.index(notes[0]) + 1] == ""


def test_each_model_keeps_its_configs_schedule_stretched_to_the_budget():
    """Most configs decay (or step) at a fixed fraction of their max_iter; the table's budget keeps that
    fraction, FastCUT's last-quarter decay (its authors') included."""
    table = load_paper_table()
    assert table.model_config("CycleGAN", 3000).lr_decay_start == 1500
    assert table.model_config("FastCUT, authors' decay", 3000).lr_decay_start == 2250
    assert table.model_config("FastCUT, authors' decay", 800).lr_decay_start == 600
    assert table.model_config("FastCUT", 3000).lr_decay_start == 1500
    cfg = table.model_config("MUNIT, fast mode", 3000)
    assert (cfg.max_iter, cfg.step_size) == (3000, 2250)


def test_the_seeds_table_gives_each_models_mean_and_range():
    table = load_paper_table()
    rows = ["| method | content IoU ↑ | hue coverage ↑ | ref. mode acc. ↑ | realism FD ↓ |", "|---|---|---|---|---|",
            "| CUT | 0.600 | 0.20 | – | 100.0 |", "| CUT, seed 1 | 0.500 | 0.20 | – | 300.0 |",
            "| CUT, seed 2 | 0.700 | 0.20 | – | 200.0 |", "| UNIT | 0.850 | 0.20 | – | 95.0 |"]
    lines = table.seeds_table(rows)
    assert lines[2] == "| CUT | 3 | 0.600 (0.500-0.700) | 0.20 (0.20-0.20) | – | 200 (100-300) |"
    assert lines[3] == "| UNIT | 1 | 0.850 | 0.20 | – | 95 |"
