"""Images with binary attributes from a labels file (Fader networks' data, CelebA's kind of labels).

`attributes_file` is a CSV file: a header naming the column `image` and one column per attribute, then one
row per image: its path relative to data_root, under `train/` or `test/` (the split), and each attribute's
value, 1 (has it) or 0 or -1 (has not; CelebA's list writes -1). Only the listed images are used.

    image,smiling,eyeglasses
    train/000001.jpg,1,-1
    test/000101.jpg,0,1
"""

from __future__ import annotations

import csv
from contextlib import contextmanager
from pathlib import Path

import torch

from munit.data.images import DataError

SPLITS = ("train", "test")
VALUES = {"1": 1, "0": 0, "-1": 0}


def attribute_columns(path: str | Path) -> list[str]:
    """The attribute names of a labels file: its header's columns but `image`, in order."""
    with _reader(Path(path)) as rows:
        return [c for c in _header(Path(path), rows) if c != "image"]


def read_attributes(path: str | Path, data_root: str | Path, split: str, names: list[str], min_images: int = 2
                    ) -> tuple[list[Path], torch.Tensor]:
    """The images of `split` listed in the labels file and their attributes `names`, (N, len(names)) int64
    0/1; DataError names the file and line of a bad row, a missing image or an unknown attribute. Rows are
    read one at a time: memory holds the split's paths and values only."""
    path, root = Path(path), Path(data_root)
    images, values = [], []
    with _reader(path) as rows:
        header = _header(path, rows)
        unknown = [n for n in names if n not in header or n == "image"]
        if unknown:
            raise DataError(f"{path}: no attribute column {', '.join(map(repr, unknown))} (the columns are "
                            f"{', '.join(c for c in header if c != 'image')})")
        where, image_at = [header.index(n) for n in names], header.index("image")
        for row in rows:
            line = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(f"{path}:{line}: {len(row)} fields; the header has {len(header)}")
            name = row[image_at].strip()
            parts = Path(name).parts
            if not parts or parts[0] not in SPLITS or ".." in parts or Path(name).is_absolute():
                raise DataError(f"{path}:{line}: image {name!r}: expected a path under train/ or test/, relative "
                                "to data_root")
            if parts[0] != split:
                continue
            cells = [row[i].strip() for i in where]
            for column, cell in zip(names, cells, strict=True):
                if cell not in VALUES:
                    raise DataError(f"{path}:{line}: attribute {column!r} is {cell!r}; expected 1, 0 or -1")
            image = root / name
            if not image.is_file():
                raise DataError(f"{path}:{line}: image {image} not found")
            images.append(image)
            values.append([VALUES[c] for c in cells])
    if len(images) < min_images:
        raise DataError(f"{path}: {len(images)} image(s) under {split}/; need at least {min_images}")
    return images, torch.tensor(values, dtype=torch.int64)


@contextmanager
def _reader(path: Path):
    """The rows of a labels file (see _Rows); DataError for a missing file."""
    if not path.is_file():
        raise DataError(f"{path}: attributes file not found")
    with path.open(newline="", encoding="utf-8-sig") as f:
        yield _Rows(path, csv.reader(f))


class _Rows:
    """Rows of a csv.reader; a decoding or CSV error becomes a DataError naming the file and line."""

    def __init__(self, path: Path, reader):
        self.path, self.reader = path, reader

    @property
    def line_num(self) -> int:
        return self.reader.line_num

    def __iter__(self):
        return self

    def __next__(self) -> list[str]:
        try:
            return next(self.reader)
        except UnicodeDecodeError as e:  # Decoded in blocks: the line is not known.
            raise DataError(f"{self.path}: not UTF-8 text ({e})") from None
        except csv.Error as e:
            raise DataError(f"{self.path}:{self.reader.line_num}: not CSV ({e})") from None


def _header(path: Path, rows: _Rows) -> list[str]:
    header = [c.strip() for c in next(rows, [])]
    if "image" not in header or len(header) < 2 or len(set(header)) != len(header):
        raise DataError(f"{path}: header {','.join(header)!r}: expected 'image' and one or more attribute "
                        "columns, each named once")
    return header
