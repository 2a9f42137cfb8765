"""A small image classifier that munit trains itself, for the Inception Score and Conditional Inception
Score of a domain and for realism in its feature space (no pretrained network needed).

Labels: for the built-in data, domain A's shape (4 classes) or domain B's shape and hue mode (20 classes);
for a folder, one class per subfolder (`DIR/<class>/*.png`, as torchvision's ImageFolder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from munit.data.builtin import HUE_MODES, SHAPES, ShapesDataset
from munit.data.images import DataError, FileDataset, find_images
from munit.training.checkpoint import CheckpointError, safe_load
from munit.utils import atomic_torch_save


class Classifier(nn.Module):
    """Five stride-2 conv blocks (conv, batch norm, leaky ReLU), global average pooling, a linear layer.
    `features` gives the pooled `num_features`-d vector, `forward` the class logits. Inputs: (N, C, H, W) in
    [-1, 1], any size (resized to `size`)."""

    def __init__(self, channels: int, num_classes: int, size: int = 64, width: int = 32):
        super().__init__()
        self.size, self.num_features = size, 4 * width
        layers, c = [], channels
        for out in (width, 2 * width, 4 * width, 4 * width, 4 * width):
            layers += [nn.Conv2d(c, out, 3, 2, 1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
            c = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(self.num_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass
class LabelledImages:
    dataset: object  # An ImageDataset: item i is a (C, H, W) tensor in [-1, 1].
    labels: list[int]
    classes: list[str]


def builtin_labelled(domain: str, split: str, count: int, size: int, seed: int = 0) -> LabelledImages:
    data = ShapesDataset(domain, split, count, seed=seed, size=size, crop=(size, size), channels=3, train=False)
    if domain == "a":
        classes = list(SHAPES)
        labels = [data.factors(i).shape for i in range(count)]
    else:
        classes = [f"{s}/{h}" for s in SHAPES for h in ("red", "yellow", "green", "blue", "purple")]
        labels = [data.factors(i).shape * len(HUE_MODES) + data.factors(i).hue_mode for i in range(count)]
    return LabelledImages(data, labels, classes)


def folder_labelled(root: str | Path, size: int, channels: int = 3) -> LabelledImages:
    """One class per subfolder of `root`."""
    root = Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if len(classes) < 2:
        raise DataError(f"{root}: expected one subfolder of images per class (at least 2), found {len(classes)}")
    paths, labels = [], []
    for index, name in enumerate(classes):
        found = find_images(root / name)
        paths += found
        labels += [index] * len(found)
    data = FileDataset(paths, size=size, crop=(size, size), channels=channels, train=False)
    return LabelledImages(data, labels, classes)


def train_classifier(train: LabelledImages, test: LabelledImages | None, iterations: int = 1500,
                     batch_size: int = 32, size: int = 64, seed: int = 0, device: torch.device | str = "cpu",
                     progress: bool = True) -> tuple[Classifier, float | None]:
    """Train a classifier; returns it (in eval mode) and its accuracy on `test`."""
    device = torch.device(device)
    torch.manual_seed(seed)
    sample = train.dataset[0]
    model = Classifier(sample.shape[0], len(train.classes), size).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / iterations)))
    labels = torch.tensor(train.labels)
    gen = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(iterations), desc="classifier", disable=not progress, unit="it"):
        idx = torch.randint(len(labels), (batch_size,), generator=gen)
        x = torch.stack([train.dataset[int(i)] for i in idx]).to(device)
        if torch.rand((), generator=gen) < 0.5:
            x = x.flip(3)
        loss = F.cross_entropy(model(x), labels[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    return model, (accuracy(model, test, device) if test is not None else None)


@torch.no_grad()
def accuracy(model: Classifier, data: LabelledImages, device: torch.device, batch_size: int = 64) -> float:
    correct = 0
    for start in range(0, len(data.labels), batch_size):
        stop = min(start + batch_size, len(data.labels))
        x = torch.stack([data.dataset[i] for i in range(start, stop)]).to(device)
        correct += (model(x).argmax(1).cpu() == torch.tensor(data.labels[start:stop])).sum().item()
    return correct / max(len(data.labels), 1)


def save_classifier(model: Classifier, classes: list[str], path: str | Path, accuracy: float | None = None) -> None:
    channels = model.body[0].in_channels
    atomic_torch_save({"kind": "munit-classifier", "state_dict": model.state_dict(), "classes": classes,
                       "size": model.size, "channels": channels, "width": model.num_features // 4,
                       "test_accuracy": accuracy}, Path(path))


def load_classifier(path: str | Path, device: torch.device | str = "cpu") -> tuple[Classifier, list[str]]:
    path = Path(path)
    state = safe_load(path, map_location=device)
    if not isinstance(state, dict) or state.get("kind") != "munit-classifier":
        raise CheckpointError(f"{path}: not a classifier written by `munit train-classifier`")
    model = Classifier(state["channels"], len(state["classes"]), state["size"], state.get("width", 32))
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval(), list(state["classes"])
