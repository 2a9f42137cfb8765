"""Data sets and loaders: folder layout, the reference's list layout, and built-in data."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler

from munit.config import BUILTIN_PREFIX, Config
from munit.data.builtin import BUILTIN_DATASETS
from munit.data.images import DataError, FileDataset, ImageDataset, find_images, read_list

SPLITS = ("train", "test")


def build_dataset(cfg: Config, domain: str, split: str) -> ImageDataset:
    """The images of `domain` ('a' or 'b') and `split` ('train' or 'test') as the config describes them."""
    kwargs = dict(size=cfg.size_of(domain), crop=(cfg.crop_image_height, cfg.crop_image_width),
                  channels=cfg.input_dim(domain), train=split == "train", flip=cfg.flip,
                  skip_bad_images=cfg.skip_bad_images)
    root = cfg.data_root
    if root is not None and root.startswith(BUILTIN_PREFIX):
        count = cfg.builtin_train_size if split == "train" else cfg.builtin_test_size
        return BUILTIN_DATASETS[root[len(BUILTIN_PREFIX):]](domain, split, count, seed=cfg.seed, **kwargs)
    if root is not None:
        return FileDataset(find_images(Path(root) / f"{split}{domain.upper()}"), **kwargs)
    folder = getattr(cfg, f"data_folder_{split}_{domain}")
    list_file = getattr(cfg, f"data_list_{split}_{domain}")
    if folder is None or list_file is None:
        raise DataError(f"no data for domain {domain} ({split}): set data_root (a folder with trainA, trainB, "
                        f"testA, testB, or builtin:shapes) or data_folder_{split}_{domain} and "
                        f"data_list_{split}_{domain}")
    return FileDataset(read_list(folder, list_file), **kwargs)


class InfiniteBatches(Sampler):
    """Endless shuffled batches (drop_last), a pure function of (seed, batch number).

    Each item is (index, augmentation seed), so the data a run sees does not depend on worker count
    and a resumed run continues with exactly the batches it would have seen (`start` = iterations done).
    """

    def __init__(self, size: int, batch_size: int, seed: int, start: int = 0):
        if size < batch_size:
            raise DataError(f"{size} images is fewer than batch_size {batch_size}")
        self.size, self.batch_size, self.seed, self.start = size, batch_size, seed, start

    def __iter__(self):
        per_epoch = self.size // self.batch_size
        batch = self.start
        epoch, order = None, None
        while True:
            if batch // per_epoch != epoch:
                epoch = batch // per_epoch
                order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + 7919 * epoch))
            pos = (batch % per_epoch) * self.batch_size
            yield [(int(order[pos + j]), (self.seed * 1_000_003 + batch * self.batch_size + j) % 2 ** 32)
                   for j in range(self.batch_size)]
            batch += 1


def train_loader(cfg: Config, dataset: ImageDataset, domain: str, start: int, device: torch.device,
                 num_workers: int | None = None) -> DataLoader:
    workers = cfg.num_workers if num_workers is None else num_workers
    sampler = InfiniteBatches(len(dataset), cfg.batch_size, seed=cfg.seed * 2 + "ab".index(domain), start=start)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=device.type == "cuda",
                      persistent_workers=workers > 0, generator=torch.Generator())


def stack(dataset: ImageDataset, count: int) -> torch.Tensor:
    """The first `count` images of a data set as one batch (deterministic augmentation)."""
    if len(dataset) == 0:
        raise DataError("data set is empty")
    return torch.stack([dataset[i % len(dataset)] for i in range(count)])
