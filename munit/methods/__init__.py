"""Registry of methods: `method:` in the config picks one."""

from __future__ import annotations

from munit.config import Config
from munit.methods.base import DIRECTIONS, Method
from munit.methods.cyclegan import CycleGAN, CycleGANNoise
from munit.methods.munit import MUNIT
from munit.methods.paired import BicycleGAN, Pix2Pix
from munit.methods.unit import UNIT

METHODS: dict[str, type[Method]] = {
    "munit": MUNIT, "unit": UNIT, "cyclegan": CycleGAN, "cyclegan_noise": CycleGANNoise, "pix2pix": Pix2Pix,
    "bicyclegan": BicycleGAN,
}


def build_method(cfg: Config) -> Method:
    return METHODS[cfg.method](cfg)


__all__ = ["DIRECTIONS", "METHODS", "Method", "build_method"]
