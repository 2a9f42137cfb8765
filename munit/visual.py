"""Image grids as PNG files and an HTML index of them."""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from munit.utils import atomic_write_bytes, atomic_write_text

PAD = 2
LABEL_HEIGHT = 14


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (N, H, W, 3) uint8. Gray is repeated; RGBA is composited on white."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) / 2)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 4:
        x = x[:, :3] * x[:, 3:] + (1 - x[:, 3:])
    return (x.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


def to_pil(x: torch.Tensor) -> Image.Image:
    """(C, H, W) in [-1, 1] -> PIL image of the same channel count (L, RGB or RGBA)."""
    arr = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr, {1: "L", 3: "RGB", 4: "RGBA"}[arr.shape[2]])


def tile(rows: list[list[np.ndarray | None]], labels: list[str] | None = None) -> Image.Image:
    """Rows of equally sized (H, W, 3) tiles (None = blank) -> one image with white gaps and optional labels."""
    h, w = next(t for row in rows for t in row if t is not None).shape[:2]
    n_cols = max(len(row) for row in rows)
    top = LABEL_HEIGHT if labels else 0
    canvas = np.full((top + len(rows) * (h + PAD) + PAD, n_cols * (w + PAD) + PAD, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell is not None:
                y, x = top + PAD + r * (h + PAD), PAD + c * (w + PAD)
                canvas[y:y + h, x:x + w] = cell
    image = Image.fromarray(canvas)
    if labels:
        draw = ImageDraw.Draw(image)
        for c, label in enumerate(labels):
            if label:
                draw.text((PAD + c * (w + PAD) + 2, 1), label, fill=(0, 0, 0))
    return image


def save_png(image: Image.Image, path: Path) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def sample_grid(columns: list[tuple[str, torch.Tensor]], refs: torch.Tensor | None = None) -> Image.Image:
    """Grid of one direction: a row per input with one tile per labelled column (e.g. input,
    reconstruction, translations). `refs`, if given, are shown in a header row above the last columns
    (the reference-guided translations)."""
    tiles = [to_uint8(images) for _, images in columns]
    rows = [[col[i] for col in tiles] for i in range(tiles[0].shape[0])]
    if refs is not None:
        rows.insert(0, [None] * (len(tiles) - refs.shape[0]) + list(to_uint8(refs)))
    labels = [label if c == 0 or columns[c - 1][0] != label else "" for c, (label, _) in enumerate(columns)]
    return tile(rows, labels)


def write_sample_grid(method, nets, x: torch.Tensor, refs: torch.Tensor, direction: str,
                      styles: torch.Tensor | None, path: Path) -> Path:
    """The PNG of `method.sample_columns` for inputs x (reference images above their columns when the
    method is reference-guided): what training writes and `munit sample` writes."""
    styles = styles if styles is not None else x.new_empty(0)
    columns = method.sample_columns(nets, x, refs, direction, styles)
    save_png(sample_grid(columns, refs if method.reference_guided else None), path)
    return path


def write_index(image_dir: Path) -> None:
    """index.html listing the grids, newest first."""
    images = sorted(image_dir.glob("*.png"), key=lambda p: p.stat().st_mtime, reverse=True)
    body = "\n".join(f'<h3>{html.escape(p.name)}</h3><img src="{html.escape(p.name)}">' for p in images)
    atomic_write_text(image_dir / "index.html",
                      f"<!doctype html><meta charset='utf-8'><title>munit samples</title>\n{body}\n")
