"""StarGAN v2's networks (Choi et al., CVPR 2020), sized by the config instead of by the image size alone.

The official code derives every width from the image size (first width 2**14 / size, at most 512) and
downsamples the generator to size / 16; here the first width is `dim`, the widest `8 * dim` (512 for its
64 at 256 px) and the generator's downsamplings `n_down`. The discriminator and the style encoder
downsample to 4 x 4 px, then a 4 x 4 conv reads one vector per image, as the official ones do at their
training size; inputs of other sizes are averaged to one vector. The face-mask high-pass path (w_hpf, for
CelebA-HQ, needs a pretrained landmark network) is not built: the AFHQ setting, w_hpf 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock(nn.Module):
    """Pre-activation residual block, optionally instance-normalised and downsampling (average pool);
    the sum is scaled by 1/sqrt(2) to keep unit variance."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False):
        super().__init__()
        self.normalize, self.downsample = normalize, downsample
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.conv1x1 is None else self.conv1x1(x)
        h = self.norm1(x) if self.normalize else x
        h = self.conv1(F.leaky_relu(h, 0.2))
        if self.downsample:
            shortcut, h = F.avg_pool2d(shortcut, 2), F.avg_pool2d(h, 2)
        h = self.norm2(h) if self.normalize else h
        h = self.conv2(F.leaky_relu(h, 0.2))
        return (shortcut + h) / math.sqrt(2)


class AdaIN(nn.Module):
    """Instance norm whose scale (1 + gamma) and shift (beta) a linear layer reads from the style code."""

    def __init__(self, style_dim: int, channels: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.fc = nn.Linear(style_dim, 2 * channels)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdaINResBlock(nn.Module):
    """The decoder's residual block: AdaIN before each conv, optionally upsampling (nearest)."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else None

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.norm1(x, s), 0.2)
        if self.upsample:
            h, x = F.interpolate(h, scale_factor=2, mode="nearest"), F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv2(F.leaky_relu(self.norm2(self.conv1(h), s), 0.2))
        shortcut = x if self.conv1x1 is None else self.conv1x1(x)
        return (h + shortcut) / math.sqrt(2)


def widths(dim: int, steps: int) -> list[int]:
    """Channels after each of `steps` downsamplings from `dim`: doubled, at most 8 * dim."""
    out = [dim]
    for _ in range(steps):
        out.append(min(out[-1] * 2, 8 * dim))
    return out


class Generator(nn.Module):
    """G(x, s): (N, C, H, W) images and (N, style_dim) codes to (N, C, H, W) images (no output squashing,
    as the official generator: values are clamped to [-1, 1] only when shown)."""

    def __init__(self, channels: int, dim: int, n_down: int, style_dim: int, n_bottleneck: int = 2):
        super().__init__()
        w = widths(dim, n_down)
        self.from_rgb = nn.Conv2d(channels, dim, 3, 1, 1)
        self.encode = nn.ModuleList([ResBlock(w[i], w[i + 1], normalize=True, downsample=True)
                                     for i in range(n_down)])
        self.encode.extend(ResBlock(w[-1], w[-1], normalize=True) for _ in range(n_bottleneck))
        self.decode = nn.ModuleList([AdaINResBlock(w[-1], w[-1], style_dim) for _ in range(n_bottleneck)])
        self.decode.extend(AdaINResBlock(w[i + 1], w[i], style_dim, upsample=True) for i in reversed(range(n_down)))
        self.to_rgb = nn.Sequential(nn.InstanceNorm2d(dim, affine=True), nn.LeakyReLU(0.2),
                                    nn.Conv2d(dim, channels, 1, 1, 0))

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.from_rgb(x)
        for block in self.encode:
            h = block(h)
        for block in self.decode:
            h = block(h, s)
        return self.to_rgb(h)


class MappingNetwork(nn.Module):
    """F(z, y): a random code (N, latent_dim) to the style code (N, style_dim) of domain y (N,) through
    shared layers and one head per domain."""

    def __init__(self, latent_dim: int, style_dim: int, hidden: int, num_domains: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, style_dim))
            for _ in range(num_domains))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(z)
        return pick(torch.stack([head(h) for head in self.unshared], dim=1), y)


def pick(per_domain: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each sample's row of its domain: (N, K, ...) and (N,) domain indices to (N, ...)."""
    return per_domain[torch.arange(len(y), device=y.device), y]


def trunk(channels: int, dim: int, size: int) -> tuple[nn.Sequential, int]:
    """The body the discriminator and the style encoder share in design: a conv, residual blocks that
    halve the image down to 4 x 4 px, a 4 x 4 conv; returns it and its output channels."""
    steps = max(int(math.log2(size)) - 2, 0)
    w = widths(dim, steps)
    blocks: list[nn.Module] = [nn.Conv2d(channels, dim, 3, 1, 1)]
    blocks += [ResBlock(w[i], w[i + 1], downsample=True) for i in range(steps)]
    blocks += [nn.LeakyReLU(0.2), nn.Conv2d(w[-1], w[-1], 4, 1, 0), nn.LeakyReLU(0.2)]
    return nn.Sequential(*blocks), w[-1]


class StyleEncoder(nn.Module):
    """E(x, y): the style code (N, style_dim) of images x as domain y's head reads it."""

    def __init__(self, channels: int, dim: int, size: int, style_dim: int, num_domains: int):
        super().__init__()
        self.shared, width = trunk(channels, dim, size)
        self.unshared = nn.ModuleList(nn.Linear(width, style_dim) for _ in range(num_domains))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(x).mean(dim=(2, 3))  # One vector per image (the 4 x 4 conv's only one at training size).
        return pick(torch.stack([head(h) for head in self.unshared], dim=1), y)


class Discriminator(nn.Module):
    """D(x, y): one real/fake logit (N,) per image, from the output of domain y."""

    def __init__(self, channels: int, dim: int, size: int, num_domains: int):
        super().__init__()
        body, width = trunk(channels, dim, size)
        self.main = nn.Sequential(*body, nn.Conv2d(width, num_domains, 1, 1, 0))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pick(self.main(x).mean(dim=(2, 3)), y)
