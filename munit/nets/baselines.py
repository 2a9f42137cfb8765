"""Networks of the baselines: CycleGAN's ResNet generator, the PatchGAN discriminator, the U-Net of
pix2pix / BicycleGAN and BicycleGAN's latent encoder (layer recipes from the respective papers)."""

from __future__ import annotations

import torch
from torch import nn

from munit.nets.blocks import Conv2dBlock, ResBlocks


class ResnetGenerator(nn.Module):
    """CycleGAN (Zhu et al. 2017, after Johnson et al. 2016): c7s1-dim, n_downsample stride-2 convs,
    n_res residual blocks, as many stride-2 transposed convs, c7s1 + tanh. Instance norm throughout.

    `noise_dim` > 0 adds that many channels of a per-image noise vector, broadcast over the image, to the
    input (CycleGAN with noise, the MUNIT paper's baseline): (N, C, H, W), (N, noise_dim) -> (N, C, H, W).
    """

    def __init__(self, in_dim: int, out_dim: int, dim: int = 64, n_downsample: int = 2, n_res: int = 9,
                 pad_type: str = "reflect", noise_dim: int = 0):
        super().__init__()
        self.noise_dim = noise_dim
        layers: list[nn.Module] = [Conv2dBlock(in_dim + noise_dim, dim, 7, 1, 3, "in", "relu", pad_type)]
        for _ in range(n_downsample):
            layers.append(Conv2dBlock(dim, 2 * dim, 3, 2, 1, "in", "relu", "zero"))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, "in", "relu", pad_type))
        for _ in range(n_downsample):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(dim // 2),
                       nn.ReLU(inplace=True)]
            dim //= 2
        layers.append(Conv2dBlock(dim, out_dim, 7, 1, 3, "none", "tanh", pad_type))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(with_latent(x, noise, self.noise_dim))


def with_latent(x: torch.Tensor, z: torch.Tensor | None, dim: int) -> torch.Tensor:
    """Concatenate a per-image vector z (N, dim), broadcast over H and W, to the channels of x."""
    if dim == 0:
        return x
    if z is None:
        raise ValueError(f"this generator needs a latent vector of {dim} values per image")
    return torch.cat([x, z.view(z.shape[0], dim, 1, 1).expand(-1, -1, *x.shape[2:])], 1)


class PatchDis(nn.Module):
    """The 70x70 PatchGAN of pix2pix / CycleGAN with n_layer = 3: stride-2 4x4 convs (no norm on the
    first), a stride-1 conv, then a 1-channel stride-1 conv. Returns a one-element list of patch maps, the
    same form as `MsImageDis`, so the adversarial losses are shared."""

    def __init__(self, in_dim: int, dim: int = 64, n_layer: int = 3, norm: str = "in"):
        super().__init__()
        layers = [Conv2dBlock(in_dim, dim, 4, 2, 1, "none", "lrelu")]
        for i in range(1, n_layer + 1):
            out = dim * min(2 ** i, 8)
            layers.append(Conv2dBlock(dim * min(2 ** (i - 1), 8), out, 4, 2 if i < n_layer else 1, 1, norm, "lrelu"))
        layers.append(Conv2dBlock(dim * min(2 ** n_layer, 8), 1, 4, 1, 1, "none", "none"))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.model(x)]


class UnetGenerator(nn.Module):
    """U-Net of pix2pix: `levels` stride-2 4x4 convs down to 1x1 (levels = log2 of the image side), mirrored
    by transposed convs with skip connections; dropout 0.5 in the up levels between two 8*dim levels.
    `latent_dim` > 0 concatenates a broadcast latent vector to the input of every down level (BicycleGAN's
    G with `where_add all`; with the latent at the input only, G learns to ignore it for longer)."""

    def __init__(self, in_dim: int, out_dim: int, levels: int, dim: int = 64, latent_dim: int = 0,
                 dropout: bool = True):
        super().__init__()
        self.latent_dim = latent_dim
        widths = [dim * min(2 ** i, 8) for i in range(levels)]
        self.down = nn.ModuleList()
        previous = in_dim
        for i, width in enumerate(widths):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(previous + latent_dim, width, 4, 2, 1))
            if 0 < i < levels - 1:
                layers.append(nn.InstanceNorm2d(width))
            self.down.append(nn.Sequential(*layers))
            previous = width
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            in_width = widths[i] if i == levels - 1 else 2 * widths[i]
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(in_width, out_dim, 4, 2, 1), nn.Tanh()))
                continue
            layers = [nn.ReLU(), nn.ConvTranspose2d(in_width, widths[i - 1], 4, 2, 1), nn.InstanceNorm2d(widths[i - 1])]
            if dropout and widths[i - 1] == 8 * dim and i < levels - 1:  # pix2pix's middle 8*dim blocks.
                layers.append(nn.Dropout(0.5))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(with_latent(x, z, self.latent_dim))
            skips.append(x)
        x = self.up[0](skips.pop())
        for layer in self.up[1:]:
            x = layer(torch.cat([x, skips.pop()], 1))
        return x


class LatentEncoder(nn.Module):
    """BicycleGAN's encoder E: image -> (mu, logvar) of an 8-d Gaussian latent. Strided convs, global
    average pooling, two linear heads. No instance norm: it would erase the per-channel statistics (the
    colours) that the latent has to carry, as in MUNIT's style encoder."""

    def __init__(self, in_dim: int, latent_dim: int = 8, dim: int = 64, n_downsample: int = 4):
        super().__init__()
        layers = [Conv2dBlock(in_dim, dim, 4, 2, 1, "none", "lrelu")]
        for i in range(1, n_downsample):
            layers.append(Conv2dBlock(dim * min(2 ** (i - 1), 4), dim * min(2 ** i, 4), 4, 2, 1, "none", "lrelu"))
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.model = nn.Sequential(*layers)
        width = dim * min(2 ** (n_downsample - 1), 4)
        self.mu = nn.Linear(width, latent_dim)
        self.logvar = nn.Linear(width, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.model(x).flatten(1)
        return self.mu(h), self.logvar(h)
