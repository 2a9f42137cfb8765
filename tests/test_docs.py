"""The docs stay consistent with the code: links resolve, every command they run exists, every config key
they name is a key."""

from __future__ import annotations

import re

import pytest

from munit.cli import build_parser
from munit.config_doc import markdown

from helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if not target.startswith(("http://", "https://")):
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_every_command_the_docs_run_exists():
    """`munit <command>` in code blocks and inline code."""
    commands = next(a.choices for a in build_parser()._actions if isinstance(a.choices, dict))
    for page in PAGES:
        text = page.read_text()
        code = re.findall(r"```.*?```", text, re.S) + re.findall(r"`[^`\n]+`", text)
        for command in re.findall(r"(?:^|[\s`(])(?<!from )munit ([a-z][a-z-]*)", "\n".join(code), re.M):
            assert command in commands, f"{page.name}: munit {command}"


def test_config_keys_named_in_docs_exist():
    keys = set(re.findall(r"\| `([a-z_.0-9]+)` \|", markdown()))
    for page in PAGES:
        if page.name == "reliability.md":  # Its table shows misspelt keys on purpose.
            continue
        for key in re.findall(r"`((?:gen|dis)\.[a-z_]+)", page.read_text()):
            assert key in keys, f"{page.name}: {key}"


def test_every_test_the_docs_cite_exists():
    cited = set()
    for page in PAGES:
        text = page.read_text()
        for file, name in re.findall(r"(test_[a-z_]+\.py)::(test_[a-z0-9_]+)", text):
            cited.add((file, name))
        # "same test" rows refer to the row above; ", `::name`" continues the file named before it.
        for file, rest in re.findall(r"`(test_[a-z_]+\.py)::test_[a-z0-9_]+`((?:, `::test_[a-z0-9_]+`)+)", text):
            cited |= {(file, name) for name in re.findall(r"::(test_[a-z0-9_]+)", rest)}
    assert len(cited) > 30
    for file, name in sorted(cited):
        source = (ROOT / "tests" / file).read_text()
        assert f"def {name}(" in source, f"{file}::{name}"
