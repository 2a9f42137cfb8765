"""Data of many domains, for methods that translate between any two of them (StarGAN v2).

Layout: `<data_root>/train/<domain>/` and `<data_root>/test/<domain>/`, one folder per domain, named by
the folder (any number of domains, two or more). The built-in data (`builtin:shapes`) gives five domains:
its filled shapes grouped by hue mode (red, yellow, green, blue, purple), with their true factors;
builtin_train_size and builtin_test_size count the images of each domain.

Training batches are balanced over domains, as the official StarGAN v2 samples them (each domain drawn
equally often, whatever its image count): a source batch (x, y) and a reference batch of two images of one
target domain each (x_ref, x_ref2, y_ref) with two random codes (z, z2) per item, all a pure function of
(seed, batch number), so that a resumed run sees what an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from munit.config import BUILTIN_PREFIX, Config
from munit.data.attributes import attribute_columns, read_attributes
from munit.data.builtin import HUE_MODES, ShapesDataset, draw_factors
from munit.data.images import DataError, FileDataset, ImageDataset, find_images

BUILTIN_DOMAINS = ("red", "yellow", "green", "blue", "purple")  # The names of HUE_MODES, in order.
assert len(BUILTIN_DOMAINS) == len(HUE_MODES)
MIN_IMAGES = 2  # Per domain and split: a reference batch takes two images of one domain.


def domain_names(cfg: Config) -> list[str]:
    """The domains of a multi-domain config, in label order: `domains` when set, else the columns of
    `attributes_file` (binary attributes; see munit.data.attributes), else the built-in data's five, else the
    folders under `<data_root>/train/` (sorted)."""
    if cfg.domains is not None:
        return [d.strip() for d in cfg.domains.split(",")]
    if cfg.attributes_file is not None:
        return attribute_columns(cfg.attributes_file)
    root = cfg.data_root
    if root is not None and root.startswith(BUILTIN_PREFIX):
        return list(BUILTIN_DOMAINS)
    if root is None:
        raise DataError("a multi-domain method needs data_root: a folder with train/<domain>/ and "
                        "test/<domain>/ folders, or builtin:shapes")
    train = Path(root) / "train"
    if not train.is_dir():
        raise DataError(f"{train}: folder not found; a multi-domain method reads train/<domain>/ and "
                        "test/<domain>/ folders under data_root")
    names = sorted(p.name for p in train.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(names) < 2:
        raise DataError(f"{train}: found {len(names)} domain folder(s) ({', '.join(names) or 'none'}); "
                        "expected one folder of images per domain, at least two")
    for name in names:
        check_domain_name(name, train / name)
    return names


RESERVED_DOMAINS = ("a", "b")  # A direction "a2b" or a target "a" means the two-domain layout's A and B.


def check_domain_name(name: str, folder: Path) -> None:
    """A domain folder's name must survive being saved in `domains` (comma-separated, stripped) and being
    asked for as a direction's target; DataError naming the folder otherwise."""
    if "," in name or name != name.strip() or not name:
        raise DataError(f"{folder}: a domain folder's name may not hold commas or start or end with spaces "
                        f"(the run keeps its domains as one comma-separated list); rename {name!r}")
    if name.lower() in RESERVED_DOMAINS:
        raise DataError(f"{folder}: the domain names a and b are the two-domain layout's A and B (a run "
                        f"trained with them could not be asked to translate into {name!r}); rename it")


def resolve_domains(cfg: Config) -> Config:
    """The config with `domains` filled in (saved with the run, so that a model knows its domains' names)."""
    return cfg if cfg.domains is not None else dataclasses.replace(cfg, domains=",".join(domain_names(cfg)))


class DomainImages(Dataset):
    """The images of every domain of one split, one data set per domain (`parts`). Items are
    (domain, index, seed) triples; an item is (image, domain)."""

    def __init__(self, parts: list[ImageDataset]):
        self.parts = parts

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def sizes(self) -> list[int]:
        return [len(p) for p in self.parts]

    def __getitem__(self, item: tuple[int, int, int]) -> tuple[torch.Tensor, int]:
        domain, index, seed = item
        return self.parts[domain][(index, seed)], domain


class LabelledImages(DomainImages):
    """The images of one split with binary attributes (`attributes_file`): one part; an item (0, index,
    seed) is (image, attributes (A,) int64 0/1)."""

    def __init__(self, part: ImageDataset, labels: torch.Tensor):
        super().__init__([part])
        self.labels = labels

    def __getitem__(self, item: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        _, index, seed = item
        return self.parts[0][(index, seed)], self.labels[index]


class ReferencePairs(DomainImages):
    """Items (domain, index, index2, seed): two images of one domain and two random codes (latent_dim,)
    drawn from the item's seed, as the reference batch of a StarGAN v2 iteration."""

    def __init__(self, parts: list[ImageDataset], latent_dim: int):
        super().__init__(parts)
        self.latent_dim = latent_dim

    def __getitem__(self, item: tuple[int, int, int, int]):
        domain, first, second, seed = item
        part = self.parts[domain]
        z = torch.randn(2, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        return part[(first, seed)], part[(second, seed + 1)], domain, z[0], z[1]


class ShapesOfHue(ShapesDataset):
    """Built-in filled shapes (domain b) of one hue mode: the draws `indices` (see `hue_indices`)."""

    def __init__(self, indices: list[int], split: str, **kwargs):
        super().__init__("b", split, len(indices), **kwargs)
        self.indices = indices

    def factors(self, index: int):
        return super().factors(self.indices[index])

    def source(self, index: int) -> str:
        return super().source(self.indices[index])


def hue_indices(seed: int, split: str, count: int, modes: list[int]) -> list[list[int]]:
    """For each hue mode, the first `count` built-in draws of domain b that show it."""
    found: dict[int, list[int]] = {m: [] for m in modes}
    index = 0
    while any(len(v) < count for v in found.values()):
        mode = draw_factors(seed, split, "b", index).hue_mode
        if mode in found and len(found[mode]) < count:
            found[mode].append(index)
        index += 1
    return [found[m] for m in modes]


def build_domains(cfg: Config, split: str, settings: str | None = None) -> DomainImages:
    """Every domain's images of `split` ('train' or 'test'); DataError for a missing domain folder or one
    with fewer than MIN_IMAGES images. Every domain takes domain A's size and channels, or with `settings`
    ("ab": a two-domain method's pair) each the settings of its letter. With `attributes_file`: the images it
    lists with their attributes (LabelledImages)."""
    names = domain_names(cfg)
    letters = settings or "a" * len(names)
    common = dict(crop=(cfg.crop_image_height, cfg.crop_image_width), train=split == "train", flip=cfg.flip,
                  skip_bad_images=cfg.skip_bad_images)
    each = [dict(size=cfg.size_of(d), channels=cfg.input_dim(d), **common) for d in letters]
    root = cfg.data_root
    if cfg.attributes_file is not None:
        if root is None or root.startswith(BUILTIN_PREFIX):
            raise DataError(f"attributes_file {cfg.attributes_file} needs data_root: the folder its image paths "
                            f"are relative to (got {root})")
        paths, labels = read_attributes(cfg.attributes_file, root, split, names, MIN_IMAGES)
        return LabelledImages(FileDataset(paths, **each[0]), labels)
    if root is not None and root.startswith(BUILTIN_PREFIX):
        count = cfg.builtin_train_size if split == "train" else cfg.builtin_test_size
        unknown = [n for n in names if n not in BUILTIN_DOMAINS]
        if unknown:
            raise DataError(f"{root} has the domains {', '.join(BUILTIN_DOMAINS)}; not {', '.join(unknown)}")
        modes = [BUILTIN_DOMAINS.index(n) for n in names]
        parts: list[ImageDataset] = [ShapesOfHue(indices, split, seed=cfg.seed, **kwargs)
                                     for indices, kwargs in zip(hue_indices(cfg.seed, split, count, modes), each,
                                                                strict=True)]
        where = [f"{root} ({split}, {n})" for n in names]
    else:
        folders = [Path(root) / split / n for n in names]
        parts = [FileDataset(find_images(f), **kwargs) for f, kwargs in zip(folders, each, strict=True)]
        where = [str(f) for f in folders]
    for part, place in zip(parts, where, strict=True):
        if len(part) < MIN_IMAGES:
            raise DataError(f"{place}: {len(part)} image(s); each domain needs at least {MIN_IMAGES}")
    return DomainImages(parts)


class BalancedBatches(Sampler):
    """Endless batches whose items draw a domain uniformly, then an image of it uniformly (`pairs`: two
    images of it), with a seed for the augmentation: a pure function of (seed, batch number). With `world`
    processes, process `rank` gets its slice of each global batch."""

    def __init__(self, sizes: list[int], batch_size: int, seed: int, start: int = 0, pairs: bool = False,
                 rank: int = 0, world: int = 1):
        self.sizes, self.batch_size, self.seed, self.start, self.pairs = sizes, batch_size, seed, start, pairs
        self.rank, self.world = rank, world

    def __iter__(self):
        batch = self.start
        while True:
            rng = random.Random(self.seed * 1_000_003 + batch)
            items = []
            for _ in range(self.batch_size * self.world):
                domain = rng.randrange(len(self.sizes))
                images = [rng.randrange(self.sizes[domain]) for _ in range(2 if self.pairs else 1)]
                items.append((domain, *images, rng.getrandbits(32)))
            yield items[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
            batch += 1


def domain_batches(cfg: Config, data: DomainImages, latent_dim: int | None, start: int, device: torch.device,
                   num_workers: int | None = None, world=None):
    """Endless ((x, y), (x_ref, x_ref2, y_ref, z, z2)) batches from iteration `start` on (see the module);
    with `latent_dim` None, ((x, y), ()): sources only."""
    workers = cfg.num_workers if num_workers is None else num_workers
    rank, size = (world.rank, world.size) if world is not None else (0, 1)
    loaders = []
    datasets = (data,) if latent_dim is None else (data, ReferencePairs(data.parts, latent_dim))
    for which, dataset in enumerate(datasets):
        sampler = BalancedBatches(data.sizes(), cfg.batch_size, seed=cfg.seed * 2 + which, start=start,
                                  pairs=which == 1, rank=rank, world=size)
        # A generator of its own: the loader's seed draw must not move the global RNG (a resumed run's draws).
        loaders.append(iter(DataLoader(dataset, batch_sampler=sampler, num_workers=workers, generator=torch.Generator(),
                                       pin_memory=device.type == "cuda", persistent_workers=workers > 0)))
    while True:
        batch = tuple(next(loader) for loader in loaders)
        yield batch if len(batch) == 2 else (batch[0], ())


def display_sources(data: DomainImages, count: int) -> torch.Tensor:
    """`count` test images taken from each domain in turn, for sample grids."""
    return torch.stack([data.parts[i % len(data.parts)][i // len(data.parts) % len(data.parts[i % len(data.parts)])]
                        for i in range(count)])
