"""Measurements against the built-in data's true factors (munit.data.builtin): no pretrained network.

Domain A images are line drawings, domain B images filled shapes whose hue comes from one of five modes.
For a translation we read back what the generator of the data knows:
- the shape's region (mask) of an output, to compare with the input's true region (content preservation);
- the fill hue of a B-like output, to find which hue mode it shows (style coverage, reference fidelity).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from munit.data.builtin import HUE_MODES, ShapeFactors, signed_distance

FOREGROUND_VALUE = 0.3  # A B-like pixel belongs to the shape when its HSV value exceeds this (background 0.12).
INK_VALUE = 0.5  # An A-like pixel is ink when darker than this (paper 1.0, ink 0.0).


def true_mask(factors: ShapeFactors, size: int, domain: str) -> np.ndarray:
    """(size, size) bool: pixels inside the shape as domain `domain` draws it (A's outline stroke included)."""
    return signed_distance(factors, size) < (max(1.0, size / 24) / 2 if domain == "a" else 0.0)


def filled_mask(image: np.ndarray) -> np.ndarray:
    """Region of a B-like image (H, W, 3 uint8): its bright pixels."""
    return image.max(axis=2) / 255.0 > FOREGROUND_VALUE


def drawn_mask(image: np.ndarray) -> np.ndarray:
    """Region of an A-like line drawing (H, W, 3 uint8): ink and what the ink encloses (pixels that no
    path of paper pixels connects to the border)."""
    ink = image.mean(axis=2) / 255.0 < INK_VALUE
    h, w = ink.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)  # A paper frame, so the flood reaches every border pixel.
    padded[1:-1, 1:-1] = ink * 255
    canvas = Image.fromarray(padded, "L").copy()  # fromarray shares the read-only buffer.
    ImageDraw.floodfill(canvas, (0, 0), 128)
    outside = np.asarray(canvas)[1:-1, 1:-1] == 128
    return ~outside


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def fill_hue(image: np.ndarray) -> float | None:
    """Circular mean hue in [0, 1) of a B-like image's shape pixels, None when it shows no shape."""
    mask = filled_mask(image)
    if mask.sum() < 4:
        return None
    hsv = np.asarray(Image.fromarray(image, "RGB").convert("HSV"), dtype=np.float64)[mask]
    weights = hsv[:, 1] / 255.0  # Grey pixels have no meaningful hue.
    if weights.sum() < 1e-6:
        return None
    angles = hsv[:, 0] / 255.0 * 2 * np.pi
    mean = np.arctan2((weights * np.sin(angles)).sum(), (weights * np.cos(angles)).sum())
    return float(mean / (2 * np.pi) % 1.0)


def hue_distance(h1: float, h2: float) -> float:
    """Circular distance between two hues in [0, 1): at most 0.5."""
    d = abs(h1 - h2) % 1.0
    return min(d, 1.0 - d)


def hue_mode(hue: float | None) -> int | None:
    """Index of the nearest of the data's hue modes."""
    if hue is None:
        return None
    return int(np.argmin([hue_distance(hue, m) for m in HUE_MODES]))


def content_iou(outputs: list[np.ndarray], factors: list[ShapeFactors], target_domain: str) -> float:
    """Mean IoU between each output's region and the true region of its input's shape."""
    read = filled_mask if target_domain == "b" else drawn_mask
    scores = [iou(read(img), true_mask(f, img.shape[0], target_domain))
              for img, f in zip(outputs, factors, strict=True)]
    return float(np.mean(scores))


def mode_coverage(outputs_per_input: list[list[np.ndarray]]) -> dict[str, float]:
    """How much of the five-mode hue distribution the random-style outputs of each input cover:
    `coverage` is the mean fraction of modes an input's outputs reach; `mode_entropy` the entropy (bits) of
    the modes over all outputs (log2 5 = 2.32 when uniform, as in the data); `no_shape` the fraction of
    outputs that show no shape."""
    fractions, counts, missing, total = [], np.zeros(len(HUE_MODES)), 0, 0
    for outputs in outputs_per_input:
        modes = [hue_mode(fill_hue(img)) for img in outputs]
        found = {m for m in modes if m is not None}
        fractions.append(len(found) / len(HUE_MODES))
        for m in modes:
            total += 1
            if m is None:
                missing += 1
            else:
                counts[m] += 1
    p = counts / max(counts.sum(), 1)
    entropy = float(-(p[p > 0] * np.log2(p[p > 0])).sum()) + 0.0  # + 0.0: no "-0.0" for one mode.
    return {"coverage": float(np.mean(fractions)), "mode_entropy": entropy, "no_shape": missing / max(total, 1)}


def reference_fidelity(outputs: list[np.ndarray], references: list[ShapeFactors]) -> dict[str, float]:
    """How closely reference-guided outputs take their reference's hue: `mode_accuracy` is the fraction
    whose hue mode is the reference's, `hue_error` the mean circular hue distance (outputs showing no
    shape count as 0.5, the largest)."""
    hits, errors = [], []
    for img, ref in zip(outputs, references, strict=True):
        hue = fill_hue(img)
        hits.append(hue_mode(hue) == ref.hue_mode)
        errors.append(hue_distance(hue, ref.hue) if hue is not None else 0.5)
    return {"mode_accuracy": float(np.mean(hits)), "hue_error": float(np.mean(errors))}
