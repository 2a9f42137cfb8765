"""SPADE's networks (Park et al., CVPR 2019, "Semantic Image Synthesis with Spatially-Adaptive
Normalization"), following the facts of the authors' NVlabs/SPADE code: a generator that starts from a
small grid and upsamples through SPADE residual blocks, an image encoder for its VAE, and the multi-scale
PatchGAN discriminator it shares with pix2pixHD.

Sizes (the authors' "normal" setting): the generator starts at crop / 32 (five nearest-neighbour x2
upsamplings) with 16 x dim channels, halved in each of the last four blocks; SPADE's hidden width is 128;
convolutions carry spectral norm; activations are leaky ReLU 0.2.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from munit.nets.blocks import SpectralNorm

UPSAMPLINGS = 5  # The authors' num_upsampling_layers "normal".
HIDDEN = 128  # Channels of SPADE's shared convolution.


def sn_conv(in_dim: int, out_dim: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True) -> nn.Module:
    return SpectralNorm(nn.Conv2d(in_dim, out_dim, kernel, stride, padding, bias=bias))


def instance_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Parameter-free instance norm, also on the 1 x 1 grid a 32 px generator starts from (where torch's
    refuses to run): there it gives 0 and SPADE's shift alone remains."""
    mean = x.mean((2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(x.var((2, 3), unbiased=False, keepdim=True) + eps)


class SPADE(nn.Module):
    """Parameter-free normalisation (batch or instance) of x, then a per-pixel scale and shift computed
    from the label map resized (nearest) to x: x_norm * (1 + gamma(m)) + beta(m)."""

    def __init__(self, channels: int, label_dim: int, norm: str = "bn"):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False) if norm == "bn" else instance_norm
        self.shared = nn.Sequential(nn.Conv2d(label_dim, HIDDEN, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(HIDDEN, channels, 3, padding=1)
        self.beta = nn.Conv2d(HIDDEN, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hidden = self.shared(F.interpolate(labels, size=x.shape[2:], mode="nearest"))
        return self.norm(x) * (1 + self.gamma(hidden)) + self.beta(hidden)


class SPADEResBlock(nn.Module):
    """Two SPADE -> leaky ReLU -> 3x3 conv steps through min(in, out) channels; a SPADE + 1x1 conv
    shortcut (no bias) where the width changes."""

    def __init__(self, in_dim: int, out_dim: int, label_dim: int, norm: str = "bn"):
        super().__init__()
        middle = min(in_dim, out_dim)
        self.norm_0, self.conv_0 = SPADE(in_dim, label_dim, norm), sn_conv(in_dim, middle, 3, padding=1)
        self.norm_1, self.conv_1 = SPADE(middle, label_dim, norm), sn_conv(middle, out_dim, 3, padding=1)
        self.learned_shortcut = in_dim != out_dim
        if self.learned_shortcut:
            self.norm_s, self.conv_s = SPADE(in_dim, label_dim, norm), sn_conv(in_dim, out_dim, 1, bias=False)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, labels)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, labels), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, labels), 0.2))
        return shortcut + dx


class SPADEGenerator(nn.Module):
    """Label map (N, label_dim, H, W) and code z (N, z_dim) -> image (N, out_dim, H, W) in [-1, 1]: z
    through a linear layer to a (16 dim, H/32, W/32) grid, then SPADE blocks and upsamplings."""

    def __init__(self, label_dim: int, out_dim: int, height: int, width: int, dim: int = 64, z_dim: int = 256,
                 norm: str = "bn"):
        super().__init__()
        self.grid = (height // 2 ** UPSAMPLINGS, width // 2 ** UPSAMPLINGS)
        self.z_dim = z_dim
        self.fc = nn.Linear(z_dim, 16 * dim * self.grid[0] * self.grid[1])
        top = 16 * dim
        self.head_0 = SPADEResBlock(top, top, label_dim, norm)
        self.middle_0 = SPADEResBlock(top, top, label_dim, norm)
        self.middle_1 = SPADEResBlock(top, top, label_dim, norm)
        widths = [top, 8 * dim, 4 * dim, 2 * dim, dim]
        self.ups = nn.ModuleList(SPADEResBlock(a, b, label_dim, norm) for a, b in zip(widths, widths[1:], strict=False))
        self.conv_img = nn.Conv2d(dim, out_dim, 3, padding=1)

    def forward(self, labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], -1, *self.grid)
        x = self.head_0(x, labels)
        x = self.middle_0(F.interpolate(x, scale_factor=2.0, mode="nearest"), labels)
        x = self.middle_1(x, labels)
        for block in self.ups:
            x = block(F.interpolate(x, scale_factor=2.0, mode="nearest"), labels)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


class SPADEEncoder(nn.Module):
    """Image (N, C, H, W) -> (mu, logvar) of z (N, z_dim): stride-2 3x3 convs with instance norm and
    spectral norm (widths dim, 2, 4, 8, 8, 8 x dim, as many as bring the image to 4 x 4 px; the authors
    resize to 256 px and use six), then two linear heads."""

    def __init__(self, in_dim: int, size: int, dim: int = 64, z_dim: int = 256):
        super().__init__()
        layers, width = [], in_dim
        for i in range(int(math.log2(size // 4))):
            out = dim * min(2 ** i, 8)
            layers += [sn_conv(width, out, 3, 2, 1), nn.InstanceNorm2d(out, affine=False), nn.LeakyReLU(0.2)]
            width = out
        self.convs = nn.Sequential(*layers)
        self.size = size
        self.mu = nn.Linear(width * 16, z_dim)
        self.logvar = nn.Linear(width * 16, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2:] != (self.size, self.size):  # References of any size are read at the trained one.
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        h = self.convs(x).flatten(1)
        return self.mu(h), self.logvar(h)


class NLayerDis(nn.Module):
    """pix2pixHD's and SPADE's PatchGAN: 4x4 convs (padding 2) of widths dim, 2, 4, 8 x dim (at most 512),
    stride 2 but the last of them, then a 1-channel conv; instance norm after all but the first (with
    spectral norm in SPADE). `features` gives every layer's output, the last being the patch map."""

    def __init__(self, in_dim: int, dim: int = 64, n_layer: int = 4, spectral: bool = True):
        super().__init__()
        conv = sn_conv if spectral else (lambda *a, **k: nn.Conv2d(*a, **k))
        blocks = [nn.Sequential(nn.Conv2d(in_dim, dim, 4, 2, 2), nn.LeakyReLU(0.2))]
        width = dim
        for i in range(1, n_layer):
            out = min(width * 2, 512)
            blocks.append(nn.Sequential(conv(width, out, 4, 2 if i < n_layer - 1 else 1, 2, bias=False),
                                        nn.InstanceNorm2d(out, affine=False), nn.LeakyReLU(0.2)))
            width = out
        blocks.append(nn.Conv2d(width, 1, 4, 1, 2))
        self.blocks = nn.ModuleList(blocks)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out


class MultiscaleDis(nn.Module):
    """`num_scales` NLayerDis on the input and its 3x3 average-pooled halvings. `forward` gives each
    scale's patch map (the form the shared adversarial losses take); `features` each scale's layers."""

    def __init__(self, in_dim: int, dim: int = 64, n_layer: int = 4, num_scales: int = 2, spectral: bool = True):
        super().__init__()
        self.scales = nn.ModuleList(NLayerDis(in_dim, dim, n_layer, spectral) for _ in range(num_scales))

    def features(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i, dis in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            out.append(dis.features(x))
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [layers[-1] for layers in self.features(x)]


def feature_matching(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """pix2pixHD's and SPADE's feature matching: L1 between the discriminator's intermediate features of
    fakes and (detached) reals, summed over layers, averaged over scales."""
    loss = sum(F.l1_loss(f, r.detach()) for fs, rs in zip(fake, real, strict=True)
               for f, r in zip(fs[:-1], rs[:-1], strict=True))
    return loss / len(fake)
