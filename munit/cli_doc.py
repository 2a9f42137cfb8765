"""The command reference (docs/cli.md), generated from the CLI's own parser so that it cannot drift:
`python -m munit.cli_doc > docs/cli.md`; a test keeps the file in step."""

from __future__ import annotations

import argparse
import os

from munit.cli import build_parser


def markdown() -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; the file must not depend on it.
    try:
        return _markdown()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _markdown() -> str:
    parser = build_parser()
    parser.prog = "munit"
    out = ["# Command reference", "",
           "Generated from munit's argument parser by `python -m munit.cli_doc`; do not edit by hand. Every",
           "command prints the same with `--help`.", "", "```text", parser.format_help().rstrip(), "```", ""]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        command.prog = f"munit {name}"
        out += [f"## munit {name}", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
