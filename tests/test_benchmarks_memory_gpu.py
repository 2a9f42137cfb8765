"""benchmarks/memory.py and benchmarks/gpu.py run end to end (on CPU, at a small size) and print their tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import ROOT


def run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                            text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def table_rows(out: str) -> list[list[str]]:
    lines = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| method")
             and not line.startswith("| size")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_memory_table_has_the_reference_and_each_checkpointing_level(tmp_path):
    out = run("memory.py", "--only", "munit", "--sizes", "64", "--dim", "8", "--steps", "1",
              "--json", str(tmp_path / "m.json"))
    rows = table_rows(out)
    assert [(r[2], r[3]) for r in rows] == [("reference", ""), ("fast", "none"), ("fast", "gen"), ("fast", "all")]
    assert all(float(r[4]) > 0 and float(r[5]) > 100 for r in rows), rows  # s/it, and the RSS of a torch process.
    assert all(r[7].startswith("memory ") for r in rows[1:])
    saved = json.loads((tmp_path / "m.json").read_text())
    assert [r["level"] for r in saved] == ["none", "none", "gen", "all"]


def test_gpu_benchmark_runs_its_grid_on_cpu(tmp_path):
    out = run("gpu.py", "--device", "cpu", "--sizes", "64", "--batches", "1", "--dim", "8", "--warmup", "1",
              "--runs", "1", "--steps", "1", "--no-compile", "--json", str(tmp_path / "g.json"))
    rows = table_rows(out)
    assert len(rows) == 1 + 3 * 2  # The reference, then three precisions x two layouts.
    assert {(r[3], r[4]) for r in rows[1:]} == {(a, c) for a in ("none", "bf16", "fp16") for c in ("off", "on")}
    assert all(r[9] == "yes" for r in rows), rows  # Every setting's losses finite.
    saved = json.loads((tmp_path / "g.json").read_text())
    assert saved["device"] == "cpu" and len(saved["results"]) == 7 and not saved["not_run"]
