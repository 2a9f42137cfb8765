"""Multi-scale PatchGAN discriminator (the reference's MsImageDis)."""

from __future__ import annotations

import torch
from torch import nn

from munit.nets.blocks import Conv2dBlock


class MsImageDis(nn.Module):
    """`num_scales` independent patch discriminators on the image and its 2x, 4x, ... average-pooled copies.

    (N, C_in, H, W) -> list of patch maps (N, 1, H / 2**n_layer / 2**s, ...), finest scale first.
    """

    def __init__(self, in_dim: int, dim: int = 64, norm: str = "none", activ: str = "lrelu", n_layer: int = 4,
                 num_scales: int = 3, pad_type: str = "reflect"):
        super().__init__()
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.cnns = nn.ModuleList(_patch_net(in_dim, dim, norm, activ, n_layer, pad_type) for _ in range(num_scales))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for i, net in enumerate(self.cnns):
            if i:
                x = self.downsample(x)
            outputs.append(net(x))
        return outputs


def _patch_net(in_dim: int, dim: int, norm: str, activ: str, n_layer: int, pad_type: str) -> nn.Sequential:
    layers = [Conv2dBlock(in_dim, dim, 4, 2, 1, "none", activ, pad_type)]
    for _ in range(n_layer - 1):
        layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm, activ, pad_type))
        dim *= 2
    layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
    return nn.Sequential(*layers)
