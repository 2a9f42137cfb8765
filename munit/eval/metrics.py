"""The metrics' mathematics. FID, KID and IS come from torchmetrics (given a feature network); the
Conditional Inception Score (MUNIT paper, Sec. 5.1) and the pairwise diversity protocols are here.

Feature networks take images (N, C, H, W) in [-1, 1]: `FeatureNet` adapts one to torchmetrics.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from munit.errors import UsageError


class FeatureNet(nn.Module):
    """`fn(images in [-1, 1]) -> (N, num_features)` as a torchmetrics feature extractor."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], num_features: int, name: str):
        super().__init__()
        self.fn, self.num_features, self.name = fn, num_features, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x).double()


def _quiet(build: Callable[[], object]):
    """A torchmetrics metric, without its warning that it keeps every feature (we evaluate thousands)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Metric .* will save all extracted features", UserWarning)
        return build()


def _feed(metric, real: torch.Tensor, fake: torch.Tensor, batch_size: int = 64):
    for chunk in real.split(batch_size):
        metric.update(chunk, real=True)
    for chunk in fake.split(batch_size):
        metric.update(chunk, real=False)
    return metric


def frechet_distance(features: FeatureNet, real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID-style distance: ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)) of the two feature sets."""
    metric = FrechetInceptionDistance(feature=features, reset_real_features=True)
    return float(_feed(metric, real, fake).compute())


def kernel_distance(features: FeatureNet, real: torch.Tensor, fake: torch.Tensor, subsets: int = 100,
                    subset_size: int = 1000) -> tuple[float, float]:
    """KID (unbiased MMD^2, cubic polynomial kernel) mean and std over random subsets; the subset size is
    capped at the smaller set's size."""
    size = min(subset_size, len(real), len(fake))
    metric = _quiet(lambda: KernelInceptionDistance(feature=features, subsets=subsets, subset_size=size))
    mean, std = _feed(metric, real, fake).compute()
    return float(mean), float(std)


def inception_score(logits: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))) over all of `logits` (N, classes), in one split as the MUNIT paper."""
    metric = _quiet(lambda: InceptionScore(feature=FeatureNet(lambda x: x, logits.shape[1], "logits"), splits=1))
    metric.update(logits)
    with warnings.catch_warnings():  # The std over one split is undefined; only the mean is used.
        warnings.filterwarnings("ignore", "std\\(\\): degrees of freedom", UserWarning)
        return float(metric.compute()[0])


def conditional_inception_score(logits: torch.Tensor) -> float:
    """CIS (MUNIT paper, Eq. 10): logits (inputs, outputs per input, classes); mean over inputs of
    exp(mean over that input's outputs of KL(p(y|x_out) || p(y|input))), where p(y|input) is the mean
    class distribution of that input's outputs. Near 1 when the outputs of an input share one class."""
    log_p = logits.double().log_softmax(dim=2)
    log_marginal = log_p.exp().mean(dim=1, keepdim=True).log()
    kl = (log_p.exp() * (log_p - log_marginal)).sum(dim=2)  # (inputs, outputs)
    return float(kl.mean(dim=1).exp().mean())


PAIRINGS = ("consecutive", "all")


def pairs(n: int, pairing: str) -> list[tuple[int, int]]:
    """consecutive: (0, 1), (1, 2), ... (MUNIT/BicycleGAN: 19 pairs of 20 outputs); all: every pair
    (StarGAN v2: 45 pairs of 10 outputs)."""
    if pairing == "consecutive":
        return [(i, i + 1) for i in range(n - 1)]
    if pairing == "all":
        return list(itertools.combinations(range(n), 2))
    raise UsageError(f"pairing must be one of {', '.join(PAIRINGS)}, got {pairing!r}")


def pairwise_diversity(outputs: torch.Tensor, distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                       pairing: str) -> torch.Tensor:
    """Distances between the outputs (K, C, H, W) of one input, per pair: (pairs,)."""
    index = pairs(outputs.shape[0], pairing)
    first = outputs[[i for i, _ in index]]
    second = outputs[[j for _, j in index]]
    return distance(first, second)
