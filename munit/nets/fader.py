"""Fader networks' encoder, attribute-conditioned decoder and latent discriminator (Lample et al., NeurIPS
2017), sized by the config: `layers` stride-2 convs down (the official code: 6 at 256 px, a 4 x 4 latent;
4 give the same latent at 64 px), widths doubling from `dim` to at most `max_dim`.
"""

from __future__ import annotations

import torch
from torch import nn


def widths(dim: int, max_dim: int, layers: int) -> list[int]:
    """Channels after each conv: dim, 2 dim, ... at most max_dim."""
    out = [dim]
    for _ in range(layers - 1):
        out.append(min(out[-1] * 2, max_dim))
    return out


def down(n_in: int, n_out: int, norm: bool, dropout: float = 0.0) -> nn.Sequential:
    """4 x 4 stride-2 conv, batch norm (not on the first layer), leaky ReLU 0.2, optional dropout."""
    layers: list[nn.Module] = [nn.Conv2d(n_in, n_out, 4, 2, 1)]
    if norm:
        layers.append(nn.BatchNorm2d(n_out))
    layers.append(nn.LeakyReLU(0.2))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """x (N, C, H, W) to the latent (N, widths[-1], H / 2**layers, W / 2**layers)."""

    def __init__(self, channels: int, dim: int, max_dim: int, layers: int):
        super().__init__()
        w = [channels, *widths(dim, max_dim, layers)]
        self.layers = nn.Sequential(*(down(w[i], w[i + 1], norm=i > 0) for i in range(layers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """(latent, attributes (N, A)) to an image: each 4 x 4 stride-2 transposed conv takes the attributes as
    A constant maps beside its input; batch norm and ReLU between, tanh at the end."""

    def __init__(self, channels: int, dim: int, max_dim: int, layers: int, attributes: int):
        super().__init__()
        w = [channels, *widths(dim, max_dim, layers)]
        self.layers = nn.ModuleList()
        for i in reversed(range(layers)):
            up: list[nn.Module] = [nn.ConvTranspose2d(w[i + 1] + attributes, w[i], 4, 2, 1, bias=False)]
            up += [nn.BatchNorm2d(w[i]), nn.ReLU()] if i > 0 else [nn.Tanh()]
            self.layers.append(nn.Sequential(*up))

    def forward(self, z: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        h = z
        for layer in self.layers:
            maps = attributes[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
            h = layer(torch.cat([h, maps.to(h.dtype)], dim=1))
        return h


class LatentDiscriminator(nn.Module):
    """Predicts the attributes (logits (N, A)) from the latent: the encoder's layers continued down to 1 x 1
    (batch norm, dropout), then two linear layers."""

    def __init__(self, dim: int, max_dim: int, layers: int, size: int, attributes: int, hidden: int,
                 dropout: float):
        super().__init__()
        total = max(size.bit_length() - 1, layers + 1)  # Convs from the image size to 1 x 1.
        w = widths(dim, max_dim, total)
        self.convs = nn.Sequential(*(down(w[i - 1], w[i], norm=True, dropout=dropout) for i in range(layers, total)))
        self.proj = nn.Sequential(nn.Linear(w[-1], hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, attributes))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.proj(self.convs(z).mean(dim=(2, 3)))  # 1 x 1 at the training size; other sizes averaged.
