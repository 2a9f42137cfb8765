"""Translating photographs larger than the training size: peak memory of `munit translate --full-size` and
the seams its tiles leave, against one whole-image translation.

    python benchmarks/large_image.py --checkpoint runs/demo
    python benchmarks/large_image.py --checkpoint runs/demo --image photo.jpg --megapixels 12 24

The test picture is `--image` or, by default, a 4 x 3 collage of the run's test images of the source domain,
each resized to 240 px (960 x 720: cell borders fall inside tiles, not on their edges), so that every run
brings its own. Seams: the collage translated whole (one `method.translate` call, feasible at this size) and
in tiles of each `--tiles` size, with one shared style code; the mean absolute difference from the whole
translation (0-255 levels) over all pixels and over the band within 4 px of an interior tile edge, and the
jump across the tile edges (the mean absolute difference of the two pixel rows or columns either side of
each edge, tiled minus whole: a visible seam is a positive jump); the same without blending (overlap 0).
Memory: the picture resized to each `--megapixels` size (4:3), saved as PNG and given to `munit translate
--full-size` in a fresh process; its peak resident set (`ru_maxrss`: CPU memory, where the full-size maps
are kept also with `--device cuda`) and wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def collage(model, direction, cols: int = 4, rows: int = 3, side: int = 240):
    """A cols x rows grid of the run's test images of the source domain, each `side` px: a PIL image."""
    import torch
    import torch.nn.functional as F

    from munit.data import build_data, displays
    from munit.visual import to_pil

    shown = displays(model.cfg, build_data(model.cfg, "test", type(model.method)), cols * rows, 1)
    images = shown[direction.source]
    images = images[torch.arange(cols * rows) % len(images)]
    tiles = F.interpolate(images, size=(side, side), mode="bicubic", align_corners=False).clamp(-1, 1)
    grid = tiles.view(rows, cols, *tiles.shape[1:]).permute(2, 0, 3, 1, 4).reshape(tiles.shape[1], rows * side,
                                                                                   cols * side)
    return to_pil(grid)


def seam_errors(model, direction, picture, tiles: list[int], seed: int) -> list[dict]:
    import torch

    from munit.data.images import to_mode, to_tensor
    from munit.tiling import tile_starts, translate_tiled

    method = model.method
    multiple = method.size_multiple()  # The whole-image translation needs sides that are multiples of it.
    picture = picture.crop((0, 0, picture.width // multiple * multiple, picture.height // multiple * multiple))
    x = to_tensor(to_mode(picture, model.cfg.input_dim(direction.source)))[None].to(model.device)
    code = method.styles(model.nets, 1, model.device, torch.Generator().manual_seed(seed), domain=direction.target)
    with torch.no_grad():
        whole = method.translate(model.nets, x, direction, code)
        rows = []
        for tile in tiles:
            for overlap in (tile // 4, 0):
                tiled = translate_tiled(lambda t: method.translate(model.nets, t, direction, code), x,
                                        multiple, tile, overlap)
                diff = (tiled - whole).abs().mean(1)[0] * 127.5  # 0-255 levels.
                band = torch.zeros_like(diff, dtype=torch.bool)
                steps = []  # Excess jump across each tile edge line: |y[e] - y[e-1]|, tiled minus whole.
                for axis, length in ((0, diff.shape[0]), (1, diff.shape[1])):
                    starts = tile_starts(length, min(tile, length), overlap, multiple)
                    edges = set(starts[1:]) | {s + tile for s in starts[:-1]}
                    for edge in sorted(edges):
                        lo, hi = max(edge - 4, 0), min(edge + 4, length)
                        if axis == 0:
                            band[lo:hi] = True
                        else:
                            band[:, lo:hi] = True
                        jump = [(y.narrow(2 + axis, edge, 1) - y.narrow(2 + axis, edge - 1, 1)).abs().mean()
                                for y in (tiled, whole)]
                        steps.append(float(jump[0] - jump[1]) * 127.5)
                rows.append({"tile": tile, "overlap": overlap, "size": list(x.shape[2:]),
                             "mad_all": float(diff.mean()), "mad_seam_band": float(diff[band].mean()),
                             "mad_elsewhere": float(diff[~band].mean()),
                             "edge_jump": sum(steps) / len(steps) if steps else 0.0})
    return rows


def peak_memory(checkpoint: str, picture, megapixels: float, tile: int, seed: int, device: str,
                multimodal: bool) -> dict:
    from PIL import Image

    width = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = round(width * 3 / 4)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.png"
        picture.resize((width, height), Image.BICUBIC).save(path)
        cmd = [sys.executable, "-m", "munit.cli", "translate", "--checkpoint", checkpoint, "--input", str(path),
               "--output", str(Path(tmp) / "out"), "--full-size", "--tile", str(tile), "--seed", str(seed),
               "--device", device, *(["--num-styles", "1"] if multimodal else [])]
        start = time.perf_counter()
        result = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode:
            raise SystemExit(f"munit translate failed:\n{result.stderr[-2000:]}")
        (out,) = (Path(tmp) / "out").glob("*.png")
        size = Image.open(out).size
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # The largest child so far, in MB.
    return {"megapixels": width * height / 1e6, "input": [width, height], "output": list(size), "tile": tile,
            "seconds": seconds, "peak_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a run directory or model munit translate reads")
    parser.add_argument("--image", type=Path, help="test picture (default: a collage of the run's test images)")
    parser.add_argument("--direction", help="default: the method's first")
    parser.add_argument("--tiles", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--megapixels", nargs="+", type=float, default=[1, 4, 12])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from PIL import Image

    from munit.api import open_model

    model = open_model(args.checkpoint, args.device)
    direction = model.method.direction(args.direction or model.method.directions[0])
    picture = Image.open(args.image) if args.image else collage(model, direction)
    seams = seam_errors(model, direction, picture, args.tiles, args.seed)
    print(f"seams on a {picture.width}x{picture.height} picture, {args.checkpoint} {direction} "
          "(mean |tiled - whole|, 0-255):")
    print("| tile | overlap | all pixels | within 4 px of a tile edge | elsewhere | jump across tile edges |\n"
          "|---|---|---|---|---|---|")
    for r in seams:
        print(f"| {r['tile']} | {r['overlap']} | {r['mad_all']:.2f} | {r['mad_seam_band']:.2f} | "
              f"{r['mad_elsewhere']:.2f} | {r['edge_jump']:+.2f} |")
    memory = []
    print("\nmunit translate --full-size, one fresh process each:")
    print("| megapixels | input | tile | peak RSS MB | seconds |\n|---|---|---|---|---|")
    for mp in sorted(args.megapixels):  # Ascending: the children's ru_maxrss is the largest so far.
        r = peak_memory(args.checkpoint, picture, mp, max(args.tiles), args.seed, args.device, model.method.multimodal)
        assert r["output"] == r["input"], r
        memory.append(r)
        print(f"| {r['megapixels']:.1f} | {r['input'][0]}x{r['input'][1]} | {r['tile']} | {r['peak_rss_mb']:.0f} | "
              f"{r['seconds']:.0f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"seams": seams, "memory": memory}, indent=1))


if __name__ == "__main__":
    main()
