"""pix2pixHD's generators (Wang et al., CVPR 2018, "High-Resolution Image Synthesis and Semantic
Manipulation with Conditional GANs"), following the facts of the authors' NVIDIA/pix2pixHD code.

G1, the global generator, is CycleGAN's ResNet generator with instance norm (`ResnetGenerator`; the
paper's 4 downsamplings and 9 residual blocks). G2, the local enhancer, wraps a global generator twice as
wide without its output layer: the input, average-pooled to half size, goes through it; the input at full
size goes through a front end (c7s1-dim, one stride-2 conv); their sum goes through 3 residual blocks, a
transposed conv and a c7s1 + tanh output layer.
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
