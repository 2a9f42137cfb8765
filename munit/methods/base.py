"""What every method provides to the shared training loop, sampling and translation."""

from __future__ import annotations

import torch
from torch import nn

from munit.config import Config

DIRECTIONS = ("a2b", "b2a")


class Method:
    """A method names its networks and defines its losses; everything else is shared.

    Networks live in one `nn.ModuleDict`; those named in `generator_names` are optimised by the
    generator optimiser (and averaged by EMA), those in `discriminator_names` by the discriminator one.
    Images are (N, C, H, W) in [-1, 1].
    """

    name = ""
    multimodal = False  # Whether one input has many outputs (random or reference styles).
    generator_names: tuple[str, ...] = ("gen_a", "gen_b")
    discriminator_names: tuple[str, ...] = ("dis_a", "dis_b")

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def build_networks(self) -> nn.ModuleDict:
        raise NotImplementedError

    def to(self, device: torch.device) -> Method:
        """Move what the method holds outside `nets` (e.g. a frozen feature network)."""
        return self

    def discriminator_loss(self, nets: nn.ModuleDict, x_a: torch.Tensor, x_b: torch.Tensor
                           ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss to minimise and its named, detached terms."""
        raise NotImplementedError

    def generator_loss(self, nets: nn.ModuleDict, x_a: torch.Tensor, x_b: torch.Tensor
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def translate(self, nets: nn.ModuleDict, x: torch.Tensor, direction: str,
                  style: torch.Tensor | None = None) -> torch.Tensor:
        """Translate x; `style` (N, style_dim) is the target style of a multimodal method."""
        raise NotImplementedError

    def sample_columns(self, nets: nn.ModuleDict, x: torch.Tensor, refs: torch.Tensor, direction: str,
                       styles: torch.Tensor) -> list[torch.Tensor]:
        """Columns of a sample grid for inputs x: input, reconstruction, translations."""
        raise NotImplementedError


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
