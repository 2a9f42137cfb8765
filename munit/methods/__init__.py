"""The method registry, the one list of method names (config checks, CLI, docs and tests read it), and the
entry point that turns a YAML file or mapping into a checked config for one of them."""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import Any

import torch

from munit.config import (
    BUILTIN_PREFIX,
    Config,
    ConfigError,
    UnusedKeyWarning,
    parse_config,
    read_config,
    set_keys,
    short_value,
)
from munit.data.builtin import BUILTIN_DATASETS, LABEL_CLASSES
from munit.methods.base import DIRECTIONS, Direction, Method
from munit.methods.cogan import CoGAN
from munit.methods.cut import CUT
from munit.methods.cyclegan import CycleGAN, CycleGANNoise
from munit.methods.discogan import DiscoGAN
from munit.methods.fader import Fader
from munit.methods.gcgan import GcGAN
from munit.methods.munit import MUNIT
from munit.methods.paired import BicycleGAN, Pix2Pix
from munit.methods.pix2pixhd import Pix2PixHD
from munit.methods.spade import SPADEMethod
from munit.methods.stargan_v2 import StarGANv2
from munit.methods.unit import UNIT

METHODS: dict[str, type[Method]] = {
    "munit": MUNIT, "unit": UNIT, "cyclegan": CycleGAN, "cyclegan_noise": CycleGANNoise, "pix2pix": Pix2Pix,
    "bicyclegan": BicycleGAN, "discogan": DiscoGAN, "cogan": CoGAN, "gcgan": GcGAN, "cut": CUT,
    "pix2pixhd": Pix2PixHD, "spade": SPADEMethod, "stargan_v2": StarGANv2,
    "fader": Fader,
}


def build_method(cfg: Config) -> Method:
    return METHODS[cfg.method](cfg)


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config, apply `key=value` overrides (dotted keys for gen./dis.), check it."""
    return config_from_dict(read_config(path, overrides), source=str(path))


def config_from_dict(raw: dict[str, Any], source: str = "config", warn_unused: bool = True) -> Config:
    """A checked config: every key (munit.config), then what the method needs; `warn_unused=False` for
    resolved configs, which list every key."""
    cfg = parse_config(raw, source)
    check_config(cfg, source)
    check_network_size(cfg, source)
    if warn_unused:
        _warn_unused(cfg, raw, source)
    return cfg


def check_config(cfg: Config, source: str) -> None:
    """Raise ConfigError for a method, image size or data set the config cannot train with."""
    def fail(key: str, value: Any, allowed: str) -> None:
        raise ConfigError(f"{source}: {key!r} is {short_value(value)}; {allowed}")

    if cfg.method not in METHODS:
        close = difflib.get_close_matches(cfg.method, METHODS, n=1)
        fail("method", cfg.method, f"expected one of {', '.join(METHODS)}"
             + (f" (did you mean {close[0]!r}?)" if close else ""))
    method = METHODS[cfg.method]
    need, smallest = method.min_image_size(cfg), min(cfg.crop_image_height, cfg.crop_image_width)
    if smallest < need:
        fail("crop_image_height" if cfg.crop_image_height < need else "crop_image_width", smallest,
             f"expected at least {need} px for the networks of method {cfg.method} with "
             f"dis.n_layer={cfg.dis.n_layer}, dis.num_scales={cfg.dis.num_scales}")
    try:
        method.check_config(cfg)  # Combinations only the method knows to be impossible.
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    if cfg.label_nc and not method.takes_labels:
        takers = ", ".join(name for name, m in METHODS.items() if m.takes_labels)
        fail("label_nc", cfg.label_nc, f"method {cfg.method} translates images, not label maps; methods that "
             f"take label maps: {takers}")
    if cfg.domains is not None and not method.multi_domain:
        if len(cfg.domains.split(",")) != 2 or method.paired or cfg.label_nc:
            fail("domains", cfg.domains, f"method {cfg.method} translates between two unpaired image domains: name "
                 "two domain folders of <data_root>/train/ (A, then B), or leave domains unset")
        if cfg.data_root is None:
            fail("domains", cfg.domains, "domains are folders under data_root/train/; set data_root")
    if cfg.data_root is not None and cfg.data_root.startswith(BUILTIN_PREFIX):
        name = cfg.data_root[len(BUILTIN_PREFIX):]
        if name not in BUILTIN_DATASETS:
            names = ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_DATASETS)
            fail("data_root", cfg.data_root, f"built-in data sets are {names}")
        if cfg.label_nc and cfg.label_nc < LABEL_CLASSES:
            fail("label_nc", cfg.label_nc, f"{cfg.data_root}'s label maps have {LABEL_CLASSES} classes (background "
                 "and each shape kind); set label_nc to at least that")


MAX_PARAMETERS = 400_000_000  # 1.6 GB of float32 weights: 2x pix2pixHD's 2048-px generator and discriminators.


MAX_ACTIVATIONS = 128 * 2 ** 30  # Bytes of one translation's activations at the crop and batch: beyond any device.


def check_network_size(cfg: Config, source: str) -> None:
    """Refuse settings whose networks together hold more than MAX_PARAMETERS weights, or whose translation
    of one batch at the crop size makes more than MAX_ACTIVATIONS bytes of activations (what training keeps
    for its backward is several times that), both measured on the meta device (no memory): each key has its
    own limit, but gen.dim=512 with gen.n_downsample=5, both within theirs, asked for 8 GB and failed
    inside the allocator."""
    try:
        with torch.device("meta"):
            method = METHODS[cfg.method](cfg)
            nets = method.build_networks()
    except Exception:  # noqa: BLE001 (a method that cannot be built without data or files: no estimate)
        return
    count = sum(p.numel() for p in nets.parameters())
    if count > MAX_PARAMETERS:
        raise ConfigError(f"{source}: these settings build networks of {count / 1e6:,.0f} M parameters "
                          f"({4 * count / 2 ** 30:,.1f} GB in float32); munit builds at most "
                          f"{MAX_PARAMETERS / 1e6:.0f} M: lower gen.dim, dis.dim, gen.n_downsample or gen.n_res")
    made = activation_bytes(method, nets, cfg)
    if made is not None and made > MAX_ACTIVATIONS:
        raise ConfigError(f"{source}: translating one batch of {cfg.batch_size} at {cfg.crop_image_height}x"
                          f"{cfg.crop_image_width} px makes {made / 2 ** 30:,.0f} GB of activations; munit allows "
                          f"{MAX_ACTIVATIONS / 2 ** 30:.0f} GB: lower the crop, batch_size or gen.dim")


def activation_bytes(method: Method, nets, cfg: Config) -> int | None:
    """Bytes of every module's output in one translation of a batch at the crop size, on the meta device;
    None where the method's translation cannot run there (a latent search)."""
    made = [0]

    def count(module, inputs, output):
        if isinstance(output, torch.Tensor):
            made[0] += output.numel() * 4

    leaves = [m for m in nets.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        direction = method.direction(method.directions[0])
        x = torch.zeros(cfg.batch_size, cfg.channels(direction.source), cfg.crop_image_height,
                        cfg.crop_image_width, device="meta")
        with torch.no_grad():
            style = method.styles(nets, cfg.batch_size, torch.device("meta"), domain=direction.target)
            method.translate(nets, x, direction, style)
    except Exception:  # noqa: BLE001
        return None
    finally:
        for hook in hooks:
            hook.remove()
    return made[0]


def _warn_unused(cfg: Config, raw: dict[str, Any], source: str) -> None:
    """Keys the method ignores are accepted, as NVlabs/MUNIT accepts them (its configs for MUNIT may carry
    UNIT's keys, for instance), with a warning so that nobody tunes a key that does nothing."""
    method = METHODS[cfg.method]
    ignored = set(method.unused_keys) | (set() if method.multimodal else {"ms_w"})  # No codes to seek modes of.
    unused = sorted(set_keys(raw) & ignored)
    if unused:
        warnings.warn(f"{source}: method {cfg.method!r} does not use {', '.join(map(repr, unused))}; "
                      "accepted and ignored", UnusedKeyWarning, stacklevel=3)


__all__ = ["DIRECTIONS", "METHODS", "Direction", "Method", "build_method", "check_config", "config_from_dict",
           "load_config"]
