"""DCGAN-family networks: DiscoGAN's encoder-decoder generator and discriminator (Kim et al. 2017, layer
recipe of the authors' discogan/model.py), and CoGAN's coupled generators and discriminators (Liu & Tuzel
2016; widths and layer kinds of the authors' CelebA networks, scaled to the image size)."""

from __future__ import annotations

import math

import torch
from torch import nn


def down(in_dim: int, out_dim: int, norm: bool, kernel: int = 4) -> list[nn.Module]:
    """A stride-2 conv halving the image, batch norm (unless `norm` is False), leaky ReLU 0.2."""
    layers: list[nn.Module] = [nn.Conv2d(in_dim, out_dim, kernel, 2, (kernel - 1) // 2, bias=not norm)]
    return layers + ([nn.BatchNorm2d(out_dim)] if norm else []) + [nn.LeakyReLU(0.2)]


def up(in_dim: int, out_dim: int, activation: nn.Module) -> list[nn.Module]:
    """A stride-2 4x4 transposed conv doubling the image, batch norm, `activation`."""
    return [nn.ConvTranspose2d(in_dim, out_dim, 4, 2, 1, bias=False), nn.BatchNorm2d(out_dim), activation]


class DiscoGenerator(nn.Module):
    """`n_down` stride-2 convs down (dim, 2, 4, 8 x dim; batch norm but on the first; leaky ReLU), as many
    transposed convs back up (batch norm and ReLU but on the last), tanh: the authors' `Generator` (n_down
    4) with munit's [-1, 1] images instead of their sigmoid's [0, 1]. Sides must divide by 2**n_down."""

    def __init__(self, in_dim: int, out_dim: int, dim: int = 64, n_down: int = 4):
        super().__init__()
        widths = [dim * min(2 ** i, 8) for i in range(n_down)]
        layers = down(in_dim, widths[0], norm=False)
        for a, b in zip(widths, widths[1:], strict=False):
            layers += down(a, b, norm=True)
        for a, b in zip(widths[::-1], widths[-2::-1], strict=False):
            layers += up(a, b, nn.ReLU())
        layers += [nn.ConvTranspose2d(dim, out_dim, 4, 2, 1, bias=False), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class DiscoDiscriminator(nn.Module):
    """Four stride-2 convs (batch norm but on the first, leaky ReLU) and a 4x4 conv to one logit per 4x4
    window (one per image at 64 px; images of a smaller side `size` get a smaller last kernel). `forward`
    returns [logits] like munit's other discriminators; `features` also returns the three normalised
    activations that DiscoGAN's feature matching compares."""

    def __init__(self, in_dim: int, dim: int = 64, size: int = 64):
        super().__init__()
        widths = [dim, 2 * dim, 4 * dim, 8 * dim]
        self.blocks = nn.ModuleList([nn.Sequential(*down(in_dim, dim, norm=False))])
        self.blocks.extend(nn.Sequential(*down(a, b, norm=True)) for a, b in zip(widths, widths[1:], strict=False))
        self.out = nn.Conv2d(8 * dim, 1, max(1, min(4, size // 16)), 1, 0, bias=False)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return self.out(x), feats[1:]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.features(x)[0]]


class CoupledTrunk(nn.Module):
    """What CoGAN's two generators share: z -> linear to (16 x dim x size/64) channels at 4x4, then
    transposed convs doubling the image and halving the channels up to half the image size (batch norm,
    PReLU), the high-level layers that make both domains' images of one z alike."""

    def __init__(self, z_dim: int, size: int, dim: int):
        super().__init__()
        steps = int(math.log2(size // 4))
        self.width = dim * 2 ** steps  # Halved at each doubling: `dim` channels at the full size.
        self.fc = nn.Linear(z_dim, self.width * 16)
        self.fc_norm = nn.Sequential(nn.BatchNorm2d(self.width), nn.PReLU())
        layers: list[nn.Module] = []
        width = self.width
        for _ in range(steps - 1):
            layers += up(width, width // 2, nn.PReLU())
            width //= 2
        self.model = nn.Sequential(*layers)
        self.out_width = width

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z.flatten(1)).view(z.shape[0], self.width, 4, 4)
        return self.model(self.fc_norm(h))


class CoupledGenerator(nn.Module):
    """One domain's CoGAN generator: the shared trunk, then its own last transposed conv (to the full size)
    and 3x3 conv to the image (tanh)."""

    def __init__(self, trunk: CoupledTrunk, out_dim: int):
        super().__init__()
        self.trunk = trunk
        width = trunk.out_width
        self.head = nn.Sequential(*up(width, width // 2, nn.PReLU()),
                                  nn.Conv2d(width // 2, out_dim, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(z))


class CoupledDiscriminator(nn.Module):
    """One domain's CoGAN discriminator: its own first 5x5 stride-2 conv (leaky ReLU), then `tail`, the
    layers both domains share (stride-2 convs with batch norm down to 4x4, a 4x4 conv to one logit)."""

    def __init__(self, in_dim: int, dim: int, tail: nn.Module):
        super().__init__()
        self.head = nn.Sequential(*down(in_dim, dim, norm=False, kernel=5))
        self.tail = tail

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.tail(self.head(x))]


def coupled_tail(size: int, dim: int) -> nn.Sequential:
    """The shared layers of CoGAN's discriminators for images of side `size` after their first conv."""
    layers: list[nn.Module] = []
    width, side = dim, size // 2
    while side > 4:
        layers += down(width, 2 * width, norm=True, kernel=5)
        width, side = 2 * width, side // 2
    layers.append(nn.Conv2d(width, 1, 4, 1, 0))
    return nn.Sequential(*layers)


def gaussian_init(module: nn.Module) -> None:
    """The CoGAN networks' initialisation (the authors' Caffe fillers): conv, transposed conv and linear
    weights N(0, 0.02), biases 0; batch norm scale 1, shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
