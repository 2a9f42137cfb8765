"""Loss functions shared by the methods.

Each computes in float32 whatever precision its inputs come in (mixed precision: a bf16 mean of many small
differences loses the small ones, and LSGAN's squares and the sums over scales add to that); on float32
inputs the casts are no-ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from munit.nets.blocks import float32, full_precision


def recon_loss(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over all elements (the reference's `recon_criterion`)."""
    return torch.mean(torch.abs(float32(x) - float32(target)))


def dis_loss(outputs_fake: list[torch.Tensor], outputs_real: list[torch.Tensor], gan_type: str) -> torch.Tensor:
    """Discriminator loss summed over scales: lsgan mean(D(fake)^2) + mean((D(real) - 1)^2); nsgan BCE;
    hinge mean(relu(1 + D(fake))) + mean(relu(1 - D(real)))."""
    loss = outputs_fake[0].new_zeros((), dtype=torch.float32)
    for fake, real in zip(map(float32, outputs_fake), map(float32, outputs_real), strict=True):
        if gan_type == "lsgan":
            loss = loss + torch.mean(fake ** 2) + torch.mean((real - 1) ** 2)
        elif gan_type == "hinge":
            loss = loss + torch.mean(F.relu(1 + fake)) + torch.mean(F.relu(1 - real))
        else:
            loss = loss + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)) \
                + F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
    return loss


def gen_adv_loss(outputs_fake: list[torch.Tensor], gan_type: str) -> torch.Tensor:
    """Generator's adversarial loss summed over scales: lsgan mean((D(fake) - 1)^2); nsgan BCE to 1;
    hinge -mean(D(fake))."""
    loss = outputs_fake[0].new_zeros((), dtype=torch.float32)
    for fake in map(float32, outputs_fake):
        if gan_type == "lsgan":
            loss = loss + torch.mean((fake - 1) ** 2)
        elif gan_type == "hinge":
            loss = loss - torch.mean(fake)
        else:
            loss = loss + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    return loss


def code_recovery_loss(predicted: torch.Tensor, code: torch.Tensor, categories: int = 0) -> torch.Tensor:
    """InfoGAN's mutual-information term (Chen et al. 2016) as a loss: a head's prediction (N, D) of the
    code (N, D) a generator was given. The first `categories` entries are a one-hot categorical code,
    scored by cross-entropy of the predicted logits; the rest continuous, by squared error (a Gaussian of
    fixed variance, up to scale and constants)."""
    loss = predicted.new_zeros(())
    if categories:
        loss = loss + F.cross_entropy(predicted[:, :categories], code[:, :categories].argmax(1))
    if code.shape[1] > categories:
        loss = loss + F.mse_loss(predicted[:, categories:], code[:, categories:])
    return loss


def mode_seeking_loss(y1: torch.Tensor, y2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                      eps: float = 1e-5) -> torch.Tensor:
    """Mao et al. (CVPR 2019): two outputs of one input should differ in proportion to their codes. The
    ratio mean|y1 - y2| / mean|z1 - z2| is maximised by minimising its inverse (eps as in their code)."""
    ratio = torch.mean(torch.abs(y1 - y2)) / torch.mean(torch.abs(z1 - z2))
    return 1 / (ratio + eps)


def patch_nce_loss(q: torch.Tensor, k: torch.Tensor, batch: int, tau: float = 0.07) -> torch.Tensor:
    """CUT's PatchNCE (Park et al., ECCV 2020), per patch: q (batch * P, D) are L2-normalised features of
    the output's patches, k those of the input at the same positions (targets: detached). Each q must pick
    its own k out of the P patches of the same image (the others are negatives; the diagonal of the
    negatives is masked with -10 as in the authors' code), cross-entropy of logits / tau. Returns (batch * P,)."""
    with full_precision(q.device):  # bmm would run in bf16 under autocast; logits / 0.07 magnify it.
        q, k = float32(q), float32(k.detach())
        n, dim = q.shape
        positives = torch.bmm(q.view(n, 1, dim), k.view(n, dim, 1)).view(n, 1)  # bmm, as theirs: same rounding.
        negatives = torch.bmm(q.view(batch, -1, dim), k.view(batch, -1, dim).transpose(1, 2))
        patches = negatives.shape[1]
        eye = torch.eye(patches, dtype=torch.bool, device=q.device)
        negatives = negatives.masked_fill(eye, -10.0).view(-1, patches)
        logits = torch.cat([positives, negatives], 1) / tau
        return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=q.device), reduction="none")
