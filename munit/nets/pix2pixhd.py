"""pix2pixHD's generators (Wang et al., CVPR 2018, "High-Resolution Image Synthesis and Semantic
Manipulation with Conditional GANs"), following the facts of the authors' NVIDIA/pix2pixHD code.

G1, the global generator, is CycleGAN's ResNet generator with instance norm (`ResnetGenerator`; the
paper's 4 downsamplings and 9 residual blocks). G2, the local enhancer, wraps a global generator twice as
wide without its output layer: the input, average-pooled to half size, goes through it; the input at full
size goes through a front end (c7s1-dim, one stride-2 conv); their sum goes through 3 residual blocks, a
transposed conv and a c7s1 + tanh output layer.

The feature encoder E (the authors' `Encoder`): c7s1-dim, `n_downsample` stride-2 3 x 3 convs, as many
transposed convs back, c7s1 to `feat_num` channels and tanh, instance norm and ReLU between; its output is
averaged over each region of the label map (`region_means`), and those means painted back (`paint`) are the
generator's extra input channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from munit.nets.baselines import ResnetGenerator
from munit.nets.blocks import Conv2dBlock, ResBlocks

LOCAL_BLOCKS = 3  # The authors' n_blocks_local.


def global_generator(in_dim: int, out_dim: int, dim: int, n_downsample: int, n_res: int) -> ResnetGenerator:
    return ResnetGenerator(in_dim, out_dim, dim, n_downsample, n_res, "reflect")


class LocalEnhancer(nn.Module):
    """(N, in_dim, H, W) -> (N, out_dim, H, W) in [-1, 1]; H and W multiples of 2^(n_downsample + 1).
    `global_net` holds G1 (width 2 x dim) without its output layer, so that a trained G1's weights load
    into it (`load_global`)."""

    def __init__(self, in_dim: int, out_dim: int, dim: int = 32, n_downsample: int = 4, n_res: int = 9):
        super().__init__()
        full = global_generator(in_dim, out_dim, 2 * dim, n_downsample, n_res)
        self.global_layers = len(full.model) - 1
        full.model = full.model[:-1]  # G1's features (2 x dim channels at half size), not its image.
        self.global_net = full
        self.front = nn.Sequential(Conv2dBlock(in_dim, dim, 7, 1, 3, "in", "relu", "reflect"),
                                   Conv2dBlock(dim, 2 * dim, 3, 2, 1, "in", "relu", "zero"))
        self.back = nn.Sequential(ResBlocks(LOCAL_BLOCKS, 2 * dim, "in", "relu", "reflect"),
                                  nn.ConvTranspose2d(2 * dim, dim, 3, 2, 1, output_padding=1),
                                  nn.InstanceNorm2d(dim), nn.ReLU(inplace=True),
                                  Conv2dBlock(dim, out_dim, 7, 1, 3, "none", "tanh", "reflect"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coarse = self.global_net.model(F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))
        return self.back(self.front(x) + coarse)

    def load_global(self, state: dict[str, torch.Tensor]) -> None:
        """Start G1 from a trained global generator's state dict (its output layer is not used here)."""
        last = f"model.{self.global_layers}."
        self.global_net.load_state_dict({k: v for k, v in state.items() if not k.startswith(last)})


ENCODER_DOWNSAMPLE = 4  # The authors' n_downsample_E.


class FeatureEncoder(nn.Module):
    """Photo (N, in_dim, H, W) -> features (N, feat_num, H, W) in [-1, 1]; H and W multiples of 16. Holds
    the K-means centres of each class's training features (`centres` (classes, clusters, feat_num), `counts`
    (classes,): how many centres a class has, largest cluster first), fitted after training."""

    def __init__(self, in_dim: int, feat_num: int, dim: int, classes: int, clusters: int):
        super().__init__()
        layers: list[nn.Module] = [Conv2dBlock(in_dim, dim, 7, 1, 3, "in", "relu", "reflect")]
        for i in range(ENCODER_DOWNSAMPLE):
            layers.append(Conv2dBlock(dim * 2 ** i, dim * 2 ** (i + 1), 3, 2, 1, "in", "relu", "zero"))
        for i in reversed(range(ENCODER_DOWNSAMPLE)):
            layers += [nn.ConvTranspose2d(dim * 2 ** (i + 1), dim * 2 ** i, 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(dim * 2 ** i), nn.ReLU(inplace=True)]
        layers.append(Conv2dBlock(dim, feat_num, 7, 1, 3, "none", "tanh", "reflect"))
        self.model = nn.Sequential(*layers)
        self.register_buffer("centres", torch.zeros(classes, clusters, feat_num))
        self.register_buffer("counts", torch.zeros(classes, dtype=torch.long))

    def forward(self, photo: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        """Each region's mean feature (N, classes, feat_num) of the photo; `regions` (N, classes, H, W) one-hot."""
        return region_means(self.model(photo), regions)

    def pick(self, codes: torch.Tensor) -> torch.Tensor:
        """Features (N, classes, feat_num) of codes (N, classes) in [0, 1): code u picks centre
        floor(u x counts) of its class (0: the largest cluster); a class without centres gets zeros."""
        index = (codes.clamp(0, 1) * self.counts).long().clamp(max=self.centres.shape[1] - 1)
        picked = self.centres[torch.arange(len(self.centres), device=codes.device), index]  # (N, classes, F)
        return picked * (self.counts > 0)[:, None].to(picked.dtype)


def region_means(features: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Mean of features (N, F, H, W) over each one-hot region (N, R, H, W): (N, R, F), 0 for empty ones."""
    sums = torch.einsum("nfhw,nrhw->nrf", features, regions)
    return sums / regions.sum((2, 3))[..., None].clamp(min=1)


def paint(means: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Each pixel of a region (N, R, H, W one-hot) given its region's features (N, R, F): (N, F, H, W)."""
    return torch.einsum("nrf,nrhw->nfhw", means, regions)


def kmeans(points: torch.Tensor, k: int, generator: torch.Generator, iterations: int = 20) -> torch.Tensor:
    """k centres (k, F) of points (P, F), P >= k (Lloyd's algorithm from k distinct random points), ordered
    by the number of points they hold, largest first."""
    centres = points[torch.randperm(len(points), generator=generator)[:k]].clone()
    for _ in range(iterations):
        assign = torch.cdist(points, centres).argmin(1)
        for j in range(k):
            if (assign == j).any():
                centres[j] = points[assign == j].mean(0)
    sizes = torch.bincount(torch.cdist(points, centres).argmin(1), minlength=k)
    return centres[sizes.argsort(descending=True, stable=True)]
