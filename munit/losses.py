"""Loss functions shared by the methods."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def recon_loss(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over all elements (the reference's `recon_criterion`)."""
    return torch.mean(torch.abs(x - target))


def dis_loss(outputs_fake: list[torch.Tensor], outputs_real: list[torch.Tensor], gan_type: str) -> torch.Tensor:
    """Discriminator loss summed over scales: lsgan mean(D(fake)^2) + mean((D(real) - 1)^2); nsgan BCE."""
    loss = outputs_fake[0].new_zeros(())
    for fake, real in zip(outputs_fake, outputs_real, strict=True):
        if gan_type == "lsgan":
            loss = loss + torch.mean(fake ** 2) + torch.mean((real - 1) ** 2)
        else:
            loss = loss + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)) \
                + F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
    return loss


def gen_adv_loss(outputs_fake: list[torch.Tensor], gan_type: str) -> torch.Tensor:
    """Generator's adversarial loss summed over scales: lsgan mean((D(fake) - 1)^2); nsgan BCE to 1."""
    loss = outputs_fake[0].new_zeros(())
    for fake in outputs_fake:
        if gan_type == "lsgan":
            loss = loss + torch.mean((fake - 1) ** 2)
        else:
            loss = loss + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    return loss


def mode_seeking_loss(y1: torch.Tensor, y2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                      eps: float = 1e-5) -> torch.Tensor:
    """Mao et al. (CVPR 2019): two outputs of one input should differ in proportion to their codes. The
    ratio mean|y1 - y2| / mean|z1 - z2| is maximised by minimising its inverse (eps as in their code)."""
    ratio = torch.mean(torch.abs(y1 - y2)) / torch.mean(torch.abs(z1 - z2))
    return 1 / (ratio + eps)
