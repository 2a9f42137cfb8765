"""Semantic label maps (domain A of label-to-photo methods): one channel of class ids per pixel, read
from index or palette PNGs, one-hot encoded to `label_nc` channels; optionally an instance map (object ids)
whose boundaries become one more channel, as in pix2pixHD.

A label map travels through resizing, cropping and flipping as one PIL image of mode "I" holding
`instance id * 256 + class id`, resized with nearest-neighbour sampling, so that classes, instances and
the paired photo stay aligned; hence at most 256 classes.
"""

from __future__ import annotations

import colorsys
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from munit.config import MAX_CLASSES
from munit.data.images import MAX_PIXELS, DataError, FileDataset, augment

INDEX_MODES = ("P", "L", "1", "I", "I;16", "I;16B", "I;16L")


def class_ids(img: Image.Image, source: str | Path) -> np.ndarray:
    """The ids of a one-channel image as int64 (H, W): palette indices for palette PNGs, values for gray
    ones; an RGB image is accepted only when it is gray (R = G = B), as label maps saved as RGB often are."""
    if img.mode in INDEX_MODES:
        return np.asarray(img).astype(np.int64)
    if img.mode == "RGB":
        rgb = np.asarray(img)
        if (rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 1] == rgb[:, :, 2]).all():
            return rgb[:, :, 0].astype(np.int64)
    raise DataError(f"{source}: a label map must hold one channel of class ids (an index, gray or palette "
                    f"PNG); got a {img.mode} image with colours")


def read_ids(path: str | Path) -> np.ndarray:
    """Class or instance ids of an image file, (H, W) int64; DataError names a bad file."""
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise DataError(f"{path}: {img.width}x{img.height} pixels is more than the {MAX_PIXELS:,} "
                                "munit reads")
            img.load()
            return class_ids(img.convert("RGB") if img.mode == "RGBA" else img, path)
    except DataError:
        raise
    except Exception as e:  # PIL raises many kinds for broken files.
        raise DataError(f"{path}: cannot read label map ({type(e).__name__}: {e})") from None


def check_classes(ids: np.ndarray, label_nc: int, source: str | Path) -> None:
    bad = ids[(ids < 0) | (ids >= label_nc)]
    if bad.size:
        raise DataError(f"{source}: class id {int(bad.max() if bad.max() >= label_nc else bad.min())} is out of "
                        f"range for label_nc {label_nc} (ids must be 0 to {label_nc - 1}; raise label_nc if the "
                        "data has more classes)")


def pack(classes: np.ndarray, instances: np.ndarray | None = None) -> Image.Image:
    """Classes (and instance ids) as one mode "I" image that resizes with NEAREST without mixing them."""
    packed = classes.astype(np.int64) + (0 if instances is None else instances.astype(np.int64) * MAX_CLASSES)
    if packed.max(initial=0) >= 2 ** 31 or packed.min(initial=0) < 0:
        raise DataError(f"instance ids must be 0 to {2 ** 31 // MAX_CLASSES - 1}")
    return Image.fromarray(packed.astype(np.int32), "I")


def open_label(path: str | Path, label_nc: int, instance_path: str | Path | None = None) -> Image.Image:
    """A label map file (and its instance map) as a packed image, checked: ids in range, sizes equal."""
    classes = read_ids(path)
    check_classes(classes, label_nc, path)
    instances = None
    if instance_path is not None:
        instances = read_ids(instance_path)
        if instances.shape != classes.shape:
            raise DataError(f"{instance_path}: instance map is {instances.shape[1]}x{instances.shape[0]} px but "
                            f"its label map {path} is {classes.shape[1]}x{classes.shape[0]} px")
    try:
        return pack(classes, instances)
    except DataError as e:
        raise DataError(f"{instance_path}: {e}") from None


def boundaries(instances: torch.Tensor) -> torch.Tensor:
    """Pixels (H, W) whose right or lower neighbour belongs to another instance, marked on both sides
    (pix2pixHD's edge map of an instance map), as 0/1 floats."""
    edge = torch.zeros_like(instances, dtype=torch.bool)
    horizontal = instances[:, 1:] != instances[:, :-1]
    vertical = instances[1:, :] != instances[:-1, :]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    return edge.float()


def label_tensor(img: Image.Image, label_nc: int, instance: bool) -> torch.Tensor:
    """A packed label image as the networks take it: (label_nc [+ 1], H, W) one-hot classes in {0, 1},
    plus the instance boundaries with `instance` (the class boundaries where no instance map was given)."""
    packed = torch.from_numpy(np.asarray(img, dtype=np.int64).copy())
    classes = packed % MAX_CLASSES
    onehot = torch.zeros(label_nc, *classes.shape).scatter_(0, classes[None], 1.0)
    if not instance:
        return onehot
    ids = packed // MAX_CLASSES
    return torch.cat([onehot, boundaries(ids if ids.any() else classes)[None]])


class LabelMaps:
    """Mixin for a data set whose `open` gives packed label images (see `pack`): items are one-hot class
    maps (plus instance boundaries with `instance`), flipped, resized (nearest) and cropped as images are,
    so that a pair's label map and photo get the same geometry from the same seed."""

    label_nc: int
    instance: bool

    def encode(self, img: Image.Image, rng: random.Random) -> torch.Tensor:
        img = augment(img, self.size, self.crop, self.train, self.flip, rng, Image.NEAREST)
        return label_tensor(img, self.label_nc, self.instance)


class LabelFiles(LabelMaps, FileDataset):
    """Label map files; with `instance_paths`, each one's instance map (same size)."""

    def __init__(self, paths: list[Path], label_nc: int, instance_paths: list[Path] | None = None, **kwargs):
        super().__init__(paths, **kwargs)
        self.label_nc, self.instance, self.instance_paths = label_nc, instance_paths is not None, instance_paths

    def open(self, index: int) -> Image.Image:
        return open_label(self.paths[index], self.label_nc,
                          self.instance_paths[index] if self.instance_paths else None)


def palette(label_nc: int) -> torch.Tensor:
    """(label_nc, 3) display colours in [-1, 1]: class 0 black, the others well-spread hues."""
    colours = [(0.0, 0.0, 0.0)] + [colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.75, 0.95) for i in range(label_nc - 1)]
    return torch.tensor(colours[:label_nc]) * 2 - 1


def colorize(x: torch.Tensor, label_nc: int) -> torch.Tensor:
    """One-hot label maps (N, label_nc [+ 1], H, W) as colour images (N, 3, H, W) in [-1, 1], for grids;
    instance boundaries, where given, in white."""
    rgb = palette(label_nc).to(x.device)[x[:, :label_nc].argmax(1)].permute(0, 3, 1, 2)
    if x.shape[1] > label_nc:
        rgb = torch.where(x[:, label_nc:label_nc + 1] > 0.5, torch.ones_like(rgb), rgb)
    return rgb
