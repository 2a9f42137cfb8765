"""Data sets and loaders: folder layout, the reference's list layout, and built-in data."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler

from munit.config import BUILTIN_PREFIX, Config
from munit.data.builtin import BUILTIN_DATASETS, BUILTIN_LABELS
from munit.data.domains import (
    DomainImages,
    LabelledImages,
    build_domains,
    display_sources,
    domain_batches,
    domain_names,
)
from munit.data.images import DataError, FileDataset, HalfDataset, ImageDataset, PairedDataset, find_images, read_list
from munit.data.labels import LabelFiles


def build_dataset(cfg: Config, domain: str, split: str, paired: bool = False) -> ImageDataset:
    """The images of `domain` ('a' or 'b') and `split` ('train' or 'test') as the config describes them.

    With `paired`, the built-in data renders the same content in both domains, and a folder that holds
    `<split>/` of side-by-side A|B images (the pix2pix layout) is read as such. With `label_nc`, domain A
    holds label maps (see munit.data.labels)."""
    kwargs = dict(size=cfg.size_of(domain), crop=(cfg.crop_image_height, cfg.crop_image_width),
                  channels=cfg.input_dim(domain), train=split == "train", flip=cfg.flip,
                  skip_bad_images=cfg.skip_bad_images)
    labels = domain == "a" and cfg.label_nc > 0
    root = cfg.data_root
    if root is not None and root.startswith(BUILTIN_PREFIX):
        count = cfg.builtin_train_size if split == "train" else cfg.builtin_test_size
        name = root[len(BUILTIN_PREFIX):]
        if labels:
            return BUILTIN_LABELS[name](split, count, cfg.label_nc, cfg.use_instance, seed=cfg.seed,
                                        paired=paired, **kwargs)
        return BUILTIN_DATASETS[name](domain, split, count, seed=cfg.seed, paired=paired, **kwargs)
    if root is not None and paired and not labels and (Path(root) / split).is_dir():
        return HalfDataset(find_images(Path(root) / split), half=domain, **kwargs)
    if root is not None:
        paths = find_images(Path(root) / f"{split}{domain.upper()}")
    else:
        folder = getattr(cfg, f"data_folder_{split}_{domain}")
        list_file = getattr(cfg, f"data_list_{split}_{domain}")
        if folder is None or list_file is None:
            raise DataError(f"no data for domain {domain} ({split}): set data_root (a folder with trainA, trainB, "
                            f"testA, testB, or builtin:shapes) or data_folder_{split}_{domain} and "
                            f"data_list_{split}_{domain}")
        paths = read_list(folder, list_file)
    if labels:
        return LabelFiles(paths, cfg.label_nc, instance_maps(cfg, split, paths) if cfg.use_instance else None,
                          **kwargs)
    return FileDataset(paths, **kwargs)


def instance_maps(cfg: Config, split: str, labels: list[Path]) -> list[Path]:
    """The instance maps of label maps: `<split>A_inst/` beside `<split>A/`, matched in sorted order as
    pix2pixHD does (Cityscapes names them differently from their label maps)."""
    if cfg.data_root is None:
        raise DataError("use_instance needs data_root with <split>A_inst/ folders (the list layout has none)")
    paths = find_images(Path(cfg.data_root) / f"{split}A_inst")
    if len(paths) != len(labels):
        raise DataError(f"{Path(cfg.data_root) / f'{split}A_inst'}: {len(paths)} instance maps for "
                        f"{len(labels)} label maps in {split}A; expected one per label map")
    return paths


def build_split(cfg: Config, split: str, paired: bool = False) -> dict[str, ImageDataset]:
    """Both domains of a split; paired data is checked to be aligned (same count, same file names up to
    the extension: a label map x.png pairs with the photo x.jpg). With `domains` (two names), A and B are
    those folders of a many-domain layout (`<data_root>/<split>/<name>/`, or built-in hue domains)."""
    if cfg.domains is not None:  # Two named domains of a many-domain layout, as A and B.
        parts = build_domains(cfg, split, settings="ab").parts
        return {"a": parts[0], "b": parts[1]}
    data = {d: build_dataset(cfg, d, split, paired) for d in "ab"}
    if paired:
        a, b = data["a"], data["b"]
        if len(a) != len(b):
            raise DataError(f"paired {split} data needs as many A images as B images, found {len(a)} and {len(b)}")
        if isinstance(a, FileDataset) and not isinstance(a, HalfDataset):
            for pa, pb in zip(a.paths, b.paths, strict=True):
                if pa.stem != pb.stem:
                    raise DataError(f"paired {split} data: {pa} has no partner of the same name in B "
                                    f"(next B file is {pb})")
    return data


def training_batches(cfg: Config, data: dict[str, ImageDataset], start: int, device: torch.device,
                     paired: bool = False, num_workers: int | None = None, world=None):
    """Endless (x_a, x_b) batches from iteration `start` on: independent per domain, or aligned pairs;
    in a process group, this process's slice of each global batch."""
    if paired:
        loader = iter(train_loader(cfg, PairedDataset(data["a"], data["b"]), "a", start, device, num_workers, world))
        while True:
            yield _next(loader)
    loaders = [iter(train_loader(cfg, data[d], d, start, device, num_workers, world)) for d in "ab"]
    while True:
        yield _next(loaders[0]), _next(loaders[1])


def _next(loader):
    """The next batch; a DataError raised in a loader worker comes back with the worker's whole traceback in
    its message (torch re-raises it so), which is cut back to the worker's own one-line message."""
    try:
        return next(loader)
    except DataError as e:
        lines = str(e).strip().splitlines()
        if len(lines) > 1 and lines[0].startswith("Caught DataError"):
            raise DataError(lines[-1].split("DataError: ", 1)[-1]) from None
        raise


class InfiniteBatches(Sampler):
    """Endless shuffled batches (drop_last), a pure function of (seed, batch number).

    Each item is (index, augmentation seed), so the data a run sees does not depend on worker count
    and a resumed run continues with exactly the batches it would have seen (`start` = iterations done).
    With `world` processes, a global batch holds world x batch_size items and process `rank` gets its
    slice; the slices together are what one process with the whole batch would see.
    """

    def __init__(self, size: int, batch_size: int, seed: int, start: int = 0, rank: int = 0, world: int = 1):
        if size < batch_size * world:
            raise DataError(f"{size} images is fewer than batch_size {batch_size} x {world} processes")
        self.size, self.batch_size, self.seed, self.start = size, batch_size, seed, start
        self.rank, self.world = rank, world

    def __iter__(self):
        global_batch = self.batch_size * self.world
        per_epoch = self.size // global_batch
        batch = self.start
        epoch, order = None, None
        while True:
            if batch // per_epoch != epoch:
                epoch = batch // per_epoch
                order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + 7919 * epoch))
            first = (batch % per_epoch) * global_batch + self.rank * self.batch_size
            yield [(int(order[first + j]), (self.seed * 1_000_003 + batch * global_batch + self.rank * self.batch_size
                                             + j) % 2 ** 32) for j in range(self.batch_size)]
            batch += 1


def train_loader(cfg: Config, dataset, domain: str, start: int, device: torch.device,
                 num_workers: int | None = None, world=None) -> DataLoader:
    workers = cfg.num_workers if num_workers is None else num_workers
    for part in getattr(dataset, "parts", (dataset,)):
        if part.skip_bad_images:
            part.skipped()  # Creates the shared record of unreadable files before the workers start.
    rank, size = (world.rank, world.size) if world is not None else (0, 1)
    try:
        sampler = InfiniteBatches(len(dataset), cfg.batch_size, seed=cfg.seed * 2 + "ab".index(domain),
                                  start=start, rank=rank, world=size)
    except DataError as e:
        raise DataError(f"training data of domain {domain}: {e}") from None
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=device.type == "cuda",
                      persistent_workers=workers > 0, generator=torch.Generator())


def stack(dataset: ImageDataset, count: int) -> torch.Tensor:
    """The first `count` images of a data set as one batch (deterministic augmentation)."""
    if len(dataset) == 0:
        raise DataError("data set is empty")
    return torch.stack([dataset[i % len(dataset)] for i in range(count)])


# What the training loop asks of the data, whatever the method: two domains (a, b) or many (DomainImages).
Data = dict[str, ImageDataset] | DomainImages
NUM_DISPLAY_REFS = 4  # Reference images per target domain in a sample grid.


def build_data(cfg: Config, split: str, method) -> Data:
    """A split's data for a method class: its named domains (multi-domain methods), else domains a and b."""
    return build_domains(cfg, split) if method.multi_domain else build_split(cfg, split, method.paired)


def batches(cfg: Config, data: Data, start: int, device: torch.device, method, num_workers: int | None = None,
            world=None):
    """Endless (x_a, x_b) training batches for the method class (see `training_batches`, `domain_batches`)."""
    if method.multi_domain:
        return domain_batches(cfg, data, cfg.gen.latent_dim if method.reference_batches else None, start, device,
                              num_workers, world)
    return training_batches(cfg, data, start, device, method.paired, num_workers, world)


def parts(cfg: Config, data: Data) -> dict[str, ImageDataset]:
    """The data set of each domain, by name (images with attributes: one, "images")."""
    if isinstance(data, LabelledImages):
        return {"images": data.parts[0]}
    if isinstance(data, DomainImages):
        return dict(zip(domain_names(cfg), data.parts, strict=True))
    return dict(data)


def displays(cfg: Config, data: Data, inputs: int | None = None, refs: int = NUM_DISPLAY_REFS
             ) -> dict[str, torch.Tensor]:
    """Fixed batches for sample grids: `inputs` images by source domain ("a", "b"; "a" holds every domain
    of a multi-domain method in turn; default display_size, at most the domain's count) and `refs`
    references per target domain ("ref_<domain>")."""
    by_name = parts(cfg, data)
    out = {}
    if isinstance(data, DomainImages):
        out["a"] = display_sources(data, inputs or cfg.display_size)
    else:
        out.update({d: stack(ds, inputs or min(cfg.display_size, len(ds))) for d, ds in by_name.items()})
    if isinstance(data, LabelledImages):  # Any image may be a reference for any attribute.
        by_name = {d: data.parts[0] for d in domain_names(cfg)}
    for d, ds in by_name.items():
        out[f"ref_{d}"] = torch.stack([ds[(len(ds) - 1 - i) % len(ds)] for i in range(refs)])
    return out


def to_device(batch, device: torch.device):
    """A batch (a tensor, or tuples of tensors) on `device`."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch.to(device, non_blocking=True)
