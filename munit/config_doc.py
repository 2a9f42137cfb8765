"""The config reference (docs/config.md), generated from munit/config.py itself: every key of the
dataclasses with its type, default, allowed values and the comment written next to it, grouped under the
section comments. `python -m munit.config_doc > docs/config.md`; a test keeps the file in step."""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize

from munit.config import CHOICES, NON_NEGATIVE, Config, DisConfig, GenConfig
from munit.methods import METHODS
from munit.nets.diffaug import POLICIES


def field_comments(cls: type) -> list[tuple[str | None, str, str]]:
    """(section, field name, comment) in source order; a comment line of its own starts a section, a
    comment line that starts with '#   ' continues the previous field's comment."""
    source = inspect.getsource(cls)
    rows: list[list] = []
    section, line_field = None, {}
    names = {f.name for f in dataclasses.fields(cls)}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.start[1] == 4 and tok.string in names and tok.start[0] not in line_field:
            line_field[tok.start[0]] = tok.string
            rows.append([section, tok.string, ""])
        elif tok.type == tokenize.COMMENT:
            text = tok.string[1:].strip()
            if tok.start[0] in line_field:
                rows[-1][2] = text
            elif tok.string.startswith("#   ") and rows:
                rows[-1][2] += " " + text
            else:
                section = text.rstrip(".")
    return [tuple(r) for r in rows]


NUMERIC_OPTIONAL = {"lr_dis", "lr_decay_start", "new_size", "new_size_a", "new_size_b"}


def _allowed(key: str, default) -> str:
    if key == "diffaug":
        return "none, or a comma list of " + ", ".join(POLICIES)
    if key in CHOICES or key == "method":
        return ", ".join(map(str, METHODS if key == "method" else CHOICES[key]))
    if isinstance(default, bool):
        return "true, false"
    if isinstance(default, str) or (default is None and key not in NUMERIC_OPTIONAL):
        return "text"
    if key in NON_NEGATIVE or key in ("beta1", "beta2"):
        return ">= 0" + (" and < 1" if key in ("beta1", "beta2", "ema_beta") else "")
    return ">= 0" if key == "gen.n_downsample" else "> 0"


def markdown() -> str:
    out = ["# Config reference", "",
           "Generated from `munit/config.py` by `python -m munit.config_doc`; do not edit by hand. Keys keep",
           "the meaning they have in NVlabs/MUNIT's configs; keys munit adds are marked (munit). Any key can be",
           "overridden on the command line: `munit train --config c.yaml --set gen.dim=32 --set lr=2e-4`.",
           "Unknown keys, wrong types and values outside the allowed ones stop `munit train` before any work.", ""]
    for cls, prefix, title in ((Config, "", "Top level"), (GenConfig, "gen.", "gen: generator"),
                               (DisConfig, "dis.", "dis: discriminator")):
        defaults = {f.name: f for f in dataclasses.fields(cls)}
        out += [f"## {title}", ""]
        current = object()
        for section, name, comment in field_comments(cls):
            f = defaults[name]
            if f.default_factory is not dataclasses.MISSING:  # gen / dis sections, documented below.
                continue
            if section != current:
                if section:
                    out += ["", f"### {section}", ""]
                out += ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
                current = section
            key = prefix + name
            type_name = str(f.type).replace(" | None", " or null")
            default = "null" if f.default is None else (str(f.default).lower() if isinstance(f.default, bool)
                                                         else f.default)
            out.append(f"| `{key}` | {type_name} | `{default}` | {_allowed(key, f.default)} | "
                       f"{comment.replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
