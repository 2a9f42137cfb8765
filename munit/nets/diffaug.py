"""Differentiable augmentation of what a discriminator sees (DiffAugment: Zhao et al., NeurIPS 2020).

Reals and fakes pass through the same kind of random, differentiable transforms before every
discriminator call, in its own update and in the generator's, so that a discriminator trained on few
images cannot memorise them, while the generator still learns the untransformed distribution. The three
transforms and their ranges are the paper's (its code's defaults): colour (brightness +-0.5, saturation
x0-2, contrast x0.5-1.5), translation (up to 1/8 of each side, zero fill) and cutout (a zero square of half
the side at a random place). Each draw is per image, from torch's global generator (seeded by the run).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(text: str) -> tuple[str, ...]:
    """"none" -> (); "color,translation" -> ("color", "translation"). ValueError names an unknown part."""
    if text.strip() == "none":
        return ()
    parts = tuple(p.strip() for p in text.split(","))
    unknown = [p for p in parts if p not in POLICIES]
    if unknown or not parts:
        raise ValueError(f"unknown transform {unknown[0] if unknown else text!r}; expected none or a comma "
                         f"list of {', '.join(POLICIES)}")
    return parts


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    """x (N, C, H, W) in [-1, 1] through each transform of `policy` in order."""
    for name in policy:
        x = TRANSFORMS[name](x)
    return x


def _per_image(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor) -> torch.Tensor:
    x = x + (_per_image(x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (2 * _per_image(x)) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_per_image(x) + 0.5) + mean


def translation(x: torch.Tensor) -> torch.Tensor:
    """Shift each image by whole pixels, up to 1/8 of its height and width; what comes in is zero."""
    n, _, h, w = x.shape
    max_y, max_x = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    dy = torch.randint(-max_y, max_y + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-max_x, max_x + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy + max_y  # Index into the padded image.
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx + max_x
    padded = F.pad(x, (max_x, max_x, max_y, max_y))
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor) -> torch.Tensor:
    """Zero a square of half the image's sides, centred anywhere such that it may leave the image."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    top = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), device=x.device) - size_y // 2
    left = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), device=x.device) - size_x // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~inside).unsqueeze(1).to(x.dtype)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}
