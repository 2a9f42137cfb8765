"""Image files to tensors: finding, opening, channel conversion, resize / crop / flip."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from munit.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".gif")
MAX_PIXELS = 64_000_000  # Larger images are refused before decoding (a decompression bomb, or a mistake).
MAX_RESIZED_PIXELS = 4_000_000  # Larger results of resizing an image are refused before resizing.
MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class DataError(UserError, ValueError):
    """A data folder, list file or image cannot be used; the message names it."""


def find_images(folder: str | Path) -> list[Path]:
    """All images under `folder`, recursively, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder not found")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not paths:
        raise DataError(f"{folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}, recursively)")
    return paths


def read_list(folder: str | Path, list_file: str | Path) -> list[Path]:
    """The reference's list layout: one path per line, relative to `folder`."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise DataError(f"{list_file}: list file not found")
    names = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
    if not names:
        raise DataError(f"{list_file}: list file is empty")
    return [Path(folder) / name for name in names]


def open_image(path: str | Path, channels: int) -> Image.Image:
    """Open an image and convert it to `channels` (1 gray, 3 RGB, 4 RGBA); DataError names a bad file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # Our own limit applies.
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise DataError(f"{path}: {img.width}x{img.height} pixels is more than the {MAX_PIXELS:,} "
                                    "munit reads (a decompression bomb?)")
                img.load()
                return to_mode(img, channels)
    except DataError:
        raise
    except Exception as e:  # PIL raises many kinds (OSError, SyntaxError, struct.error, ...) for broken files.
        raise DataError(f"{path}: cannot read image ({type(e).__name__}: {e})") from None


def to_mode(img: Image.Image, channels: int) -> Image.Image:
    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit gray: scale, since convert("L") clips.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode in ("P", "PA", "LA", "La", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA" and channels != 4:  # Transparent pixels become white, not whatever colour they hold.
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    return img.convert(MODES[channels])


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image -> (C, H, W) float32 in [-1, 1]."""
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.transpose(2, 0, 1).copy()).div_(127.5).sub_(1.0)


def shorter_side_to(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) scaled so that the shorter side is `size`."""
    scale = size / min(width, height)
    return max(size, round(width * scale)), max(size, round(height * scale))


def check_resized(width: int, height: int, new: tuple[int, int]) -> None:
    """Refuse an image whose resized size `new` is over MAX_RESIZED_PIXELS: a few bytes of 1 x 300,000 px
    pass the file's pixel limit, then become 64 x 19,200,000 px when the shorter side is resized."""
    if new[0] * new[1] > MAX_RESIZED_PIXELS:
        raise DataError(f"{width}x{height} px would be {new[0]}x{new[1]} px after resizing, more than the "
                        f"{MAX_RESIZED_PIXELS:,} munit works on at once (an extreme aspect ratio?)")


def resize_shorter(img: Image.Image, size: int, resample: int = Image.BILINEAR) -> Image.Image:
    w, h = img.size
    if min(w, h) == size:
        return img
    return img.resize(shorter_side_to(w, h, size), resample)  # Size checked when opened (__getitem__).


def augment(img: Image.Image, size: int, crop: tuple[int, int], train: bool, flip: bool,
            rng: random.Random | None, resample: int = Image.BILINEAR) -> Image.Image:
    """Training: flip, resize the shorter side, random crop. Test: resize, centre crop. The same `rng`
    state gives the same flip and crop to images of the same size (the two halves of a pair)."""
    if train and flip and rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    img = resize_shorter(img, size, resample)
    w, h = img.size
    ch, cw = crop
    if train:
        top, left = rng.randint(0, h - ch), rng.randint(0, w - cw)
    else:
        top, left = (h - ch) // 2, (w - cw) // 2
    return img.crop((left, top, left + cw, top + ch))


def transform(img: Image.Image, size: int, crop: tuple[int, int], train: bool, flip: bool,
              rng: random.Random | None) -> torch.Tensor:
    """An image augmented (see `augment`) as a (C, H, W) tensor in [-1, 1]."""
    return to_tensor(augment(img, size, crop, train, flip, rng))


class ImageDataset(Dataset):
    """Images of one domain. Items are indices, or (index, seed) pairs whose seed fixes the augmentation."""

    def __init__(self, size: int, crop: tuple[int, int], channels: int, train: bool, flip: bool = True,
                 skip_bad_images: bool = False):
        self.size, self.crop, self.channels = size, crop, channels
        self.train, self.flip, self.skip_bad_images = train, flip, skip_bad_images
        self._bad: torch.Tensor | None = None  # Indices found unreadable, shared with DataLoader workers.

    def skipped(self) -> int:
        """How many images were skipped as unreadable so far (in this process and its loader workers)."""
        self._share_bad()
        return int(self._bad.sum())

    def _share_bad(self) -> None:
        if self._bad is None:  # Made before the loader's workers start, so that they all mark the same one.
            self._bad = torch.zeros(len(self), dtype=torch.bool).share_memory_()

    def __len__(self) -> int:
        raise NotImplementedError

    def open(self, index: int) -> Image.Image:
        raise NotImplementedError

    def source(self, index: int) -> str:
        """Where image `index` comes from, for messages."""
        return f"image {index}"

    def __getitem__(self, item: int | tuple[int, int]) -> torch.Tensor:
        index, seed = item if isinstance(item, tuple) else (item, index_seed(item))
        return self.encode(self.open_readable(index), random.Random(seed))

    def encode(self, img: Image.Image, rng: random.Random) -> torch.Tensor:
        """An opened image augmented with `rng`, as the networks take it."""
        return transform(img, self.size, self.crop, self.train, self.flip, rng)

    def open_readable(self, index: int) -> Image.Image:
        """Image `index`, or with skip_bad_images the next readable one (each unreadable file warned once)."""
        for attempt in range(len(self)):
            try:
                img = self.open((index + attempt) % len(self))
                try:
                    check_resized(*img.size, shorter_side_to(*img.size, self.size))
                except DataError as e:
                    raise DataError(f"{self.source((index + attempt) % len(self))}: {e}") from None
                break
            except DataError as e:
                if not self.skip_bad_images:
                    raise
                self._share_bad()
                bad = (index + attempt) % len(self)
                if not self._bad[bad]:  # Warn once per file.
                    self._bad[bad] = True
                    warnings.warn(f"skipping unreadable image: {e}", stacklevel=2)
        else:
            raise DataError("every image of this domain is unreadable")
        return img


def index_seed(index: int) -> int:
    return index * 2654435761 % 2 ** 32


class FileDataset(ImageDataset):
    def __init__(self, paths: list[Path], **kwargs):
        super().__init__(**kwargs)
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def open(self, index: int) -> Image.Image:
        return open_image(self.paths[index], self.channels)

    def source(self, index: int) -> str:
        return str(self.paths[index])


class HalfDataset(FileDataset):
    """One half of side-by-side A|B images (the pix2pix layout): A is the left half, B the right."""

    def __init__(self, paths: list[Path], half: str, **kwargs):
        super().__init__(paths, **kwargs)
        self.half = half

    def open(self, index: int) -> Image.Image:
        img = super().open(index)
        w, h = img.size
        half = w // 2  # Both halves this wide (an odd width's last column is dropped), so that they align.
        return img.crop((0, 0, half, h) if self.half == "a" else (half, 0, 2 * half, h))


class PairedDataset(Dataset):
    """Aligned pairs: item i is (A_i, B_i), flipped and cropped alike (both halves get the same seed)."""

    def __init__(self, a: ImageDataset, b: ImageDataset):
        if len(a) != len(b):
            raise DataError(f"paired data needs as many A images as B images, found {len(a)} and {len(b)}")
        self.a, self.b = a, b
        self.parts = (a, b)

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = item if isinstance(item, tuple) else (item, index_seed(item))
        a, b = self.a.open_readable(index), self.b.open_readable(index)
        if a.size != b.size:  # Resized and cropped alike, they would no longer cover the same scene.
            raise DataError(f"{self.a.source(index)} is {a.width}x{a.height} px but its partner "
                            f"{self.b.source(index)} is {b.width}x{b.height} px; a pair must have one size")
        return self.a.encode(a, random.Random(seed)), self.b.encode(b, random.Random(seed))
