"""A built-in two-domain data set with known content and style factors, drawn procedurally.

Domain A: black line drawings of a shape on white (like edges). Domain B: the same kinds of shapes
filled with a shaded colour on a dark background; the fill hue comes from one of five modes, so the
style distribution is multimodal. Content factors (shape, position, size, rotation) are drawn the same
way in both domains; every image is a pure function of (seed, split, domain, index). As label maps, domain
A holds each pixel's class instead: 0 background, 1 + the shape's index inside the shape (LABEL_CLASSES).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from PIL import Image

from munit.data.images import ImageDataset, to_mode
from munit.data.labels import LabelMaps, pack

SHAPES = ("circle", "triangle", "square", "cross")
LABEL_CLASSES = 1 + len(SHAPES)  # Background and each shape kind.
HUE_MODES = (0.0, 0.15, 0.33, 0.6, 0.8)  # Red, yellow, green, blue, purple.
SPLITS = {"train": 0, "test": 1}


@dataclass
class ShapeFactors:
    shape: int  # Index into SHAPES.
    cx: float  # Centre, as a fraction of the image side.
    cy: float
    radius: float  # Circumradius, as a fraction of the image side.
    angle: float  # Rotation in radians.
    hue_mode: int  # Index into HUE_MODES (domain B only, drawn in both to keep the draws aligned).
    hue: float
    light_angle: float  # Direction the shading comes from.


def draw_factors(seed: int, split: str, domain: str, index: int, paired: bool = False) -> ShapeFactors:
    """Factors of image `index`; with `paired`, domain B takes its content (shape, position, size,
    rotation) from domain A's image of the same index and only its style from its own draw."""
    if paired and domain == "b":
        content = draw_factors(seed, split, "a", index)
        style = draw_factors(seed, split, "b", index)
        return ShapeFactors(content.shape, content.cx, content.cy, content.radius, content.angle,
                            style.hue_mode, style.hue, style.light_angle)
    rng = np.random.default_rng([seed, SPLITS[split], "ab".index(domain), index])
    mode = int(rng.integers(len(HUE_MODES)))
    return ShapeFactors(
        shape=int(rng.integers(len(SHAPES))),
        cx=float(rng.uniform(0.38, 0.62)),
        cy=float(rng.uniform(0.38, 0.62)),
        radius=float(rng.uniform(0.2, 0.3)),
        angle=float(rng.uniform(0, 2 * np.pi)),
        hue_mode=mode,
        hue=float((HUE_MODES[mode] + rng.normal(0, 0.02)) % 1.0),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
    )


def signed_distance(f: ShapeFactors, size: int) -> np.ndarray:
    """Signed distance in pixels to the shape's outline (negative inside), on a size x size grid."""
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    x, y = np.meshgrid(coords - f.cx, coords - f.cy)
    c, s = np.cos(f.angle), np.sin(f.angle)
    x, y = c * x + s * y, -s * x + c * y
    r = f.radius
    name = SHAPES[f.shape]
    if name == "circle":
        d = np.hypot(x, y) - r
    elif name == "cross":
        arm, half = r, r * 0.35
        d = np.minimum(_box(x, y, arm, half), _box(x, y, half, arm))
    else:
        sides = 3 if name == "triangle" else 4
        sector = 2 * np.pi / sides
        a = np.mod(np.arctan2(y, x), sector) - sector / 2
        d = np.hypot(x, y) * np.cos(a) - r * np.cos(np.pi / sides)
    return d * size


def _box(x: np.ndarray, y: np.ndarray, hx: float, hy: float) -> np.ndarray:
    qx, qy = np.abs(x) - hx, np.abs(y) - hy
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0)


def render(f: ShapeFactors, domain: str, size: int) -> np.ndarray:
    """(size, size, 3) uint8 image of the factors in domain 'a' (line drawing) or 'b' (filled, shaded)."""
    d = signed_distance(f, size)
    if domain == "a":
        width = max(1.0, size / 24)
        ink = np.clip(width / 2 + 0.5 - np.abs(d), 0, 1)  # Anti-aliased stroke.
        rgb = np.repeat((1.0 - ink)[:, :, None], 3, axis=2)
    else:
        cover = np.clip(0.5 - d, 0, 1)[:, :, None]
        coords = (np.arange(size, dtype=np.float32) + 0.5) / size
        x, y = np.meshgrid(coords - f.cx, coords - f.cy)
        light = (np.cos(f.light_angle) * x + np.sin(f.light_angle) * y) / f.radius
        shade = np.clip(0.8 + 0.35 * light, 0.35, 1.15)[:, :, None]
        base = np.array(colorsys.hsv_to_rgb(f.hue, 0.8, 0.85), dtype=np.float32)
        background = np.full(3, 0.12, dtype=np.float32)
        rgb = cover * np.clip(base * shade, 0, 1) + (1 - cover) * background
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


class ShapesDataset(ImageDataset):
    """`count` images of one domain and split of the built-in data, rendered at `size` px on demand."""

    def __init__(self, domain: str, split: str, count: int, seed: int = 0, paired: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.domain, self.split, self.count, self.seed, self.paired = domain, split, count, seed, paired

    def __len__(self) -> int:
        return self.count

    def factors(self, index: int) -> ShapeFactors:
        return draw_factors(self.seed, self.split, self.domain, index, self.paired)

    def open(self, index: int) -> Image.Image:
        return to_mode(Image.fromarray(render(self.factors(index), self.domain, self.size), "RGB"), self.channels)

    def source(self, index: int) -> str:
        return f"shapes_{self.split}{self.domain.upper()}_{index:05d}"


class ShapeLabels(LabelMaps, ShapesDataset):
    """The label maps of domain A's images: class 1 + shape index inside the shape, 0 outside; with
    `instance`, the shape is instance 1 (its outline is the boundary channel)."""

    def __init__(self, split: str, count: int, label_nc: int, instance: bool = False, **kwargs):
        super().__init__("a", split, count, **kwargs)
        self.label_nc, self.instance = label_nc, instance

    def open(self, index: int) -> Image.Image:
        f = self.factors(index)
        inside = signed_distance(f, self.size) < 0
        classes = np.where(inside, 1 + f.shape, 0)
        return pack(classes, inside.astype(np.int64) if self.instance else None)


BUILTIN_DATASETS = {"shapes": ShapesDataset}
BUILTIN_LABELS = {"shapes": ShapeLabels}  # Their domain A as label maps.
