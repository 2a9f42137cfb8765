"""Registry of methods: `method:` in the config picks one."""

from __future__ import annotations

from munit.config import Config
from munit.methods.base import DIRECTIONS, Method
from munit.methods.munit import MUNIT
from munit.methods.unit import UNIT

METHODS: dict[str, type[Method]] = {"munit": MUNIT, "unit": UNIT}


def build_method(cfg: Config) -> Method:
    return METHODS[cfg.method](cfg)


__all__ = ["DIRECTIONS", "METHODS", "Method", "build_method"]
