"""The import layers of docs/architecture.md, checked by scripts/check_imports.py."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT

SCRIPT = ROOT / "scripts" / "check_imports.py"


def run(package) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(package)], capture_output=True, text=True)


def test_munit_has_no_import_cycle_and_no_upward_import():
    result = run(ROOT / "munit")
    assert result.returncode == 0, result.stdout


def test_the_check_finds_a_cycle_and_an_upward_import(tmp_path):
    """The cycle config.py had (a lazy import of the methods inside a function), and a method importing
    the training loop."""
    package = tmp_path / "munit"
    (package / "methods").mkdir(parents=True)
    (package / "training").mkdir()
    for init in ("__init__.py", "methods/__init__.py", "training/__init__.py", "training/loop.py"):
        (package / init).write_text("")
    (package / "config.py").write_text("def names():\n    from munit.methods import METHODS\n    return METHODS\n")
    (package / "methods" / "base.py").write_text("from munit.config import names\nfrom ..training import loop\n")
    (package / "methods" / "__init__.py").write_text("from munit.methods.base import names\nMETHODS = ()\n")
    result = run(package)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "munit.config (config) imports munit.methods (parts), a higher layer" in lines
    assert "munit.methods.base (parts) imports munit.training.loop (training), a higher layer" in lines
    assert any(line.startswith("import cycle: munit.config -> munit.methods") and line.endswith("munit.config")
               for line in lines), lines
