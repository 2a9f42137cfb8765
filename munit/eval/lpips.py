"""LPIPS (Zhang et al., CVPR 2018), version 0.1 with the AlexNet backbone, the distance the MUNIT,
BicycleGAN and StarGAN v2 papers use for diversity.

LPIPS(x, y) = sum over AlexNet's five ReLU outputs l of the spatial mean of w_l . (n(f_l(x)) - n(f_l(y)))^2,
where n() scales each feature vector to unit length over channels and w_l are the learnt per-channel
weights; inputs in [-1, 1] are first shifted and scaled per channel (constants of the LPIPS release).
Weights: torchvision's AlexNet (`alexnet-owt-7be5be79.pth`) and the LPIPS heads (`alex.pth` of the
`lpips` package, weights/v0.1), found as munit.weights describes ($MUNIT_LPIPS_WEIGHTS names a folder).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from munit.weights import find_weights

ALEXNET_FILE, ALEXNET_URL = "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
HEADS_FILE = "alex.pth"
HEADS_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth"
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
CHANNELS = (64, 192, 384, 256, 256)
TAPS = (1, 4, 7, 9, 11)  # Indices of the ReLUs in torchvision's alexnet.features.


def alexnet_features() -> nn.Sequential:
    """torchvision's alexnet.features layout (so its state-dict keys load as they are), up to relu5."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )


class LPIPS(nn.Module):
    def __init__(self, features: nn.Sequential | None = None, heads: list[torch.Tensor] | None = None):
        super().__init__()
        self.features = features if features is not None else alexnet_features()
        self.heads = nn.ParameterList([nn.Parameter(h if h is not None else torch.ones(1, c, 1, 1) / c,
                                                    requires_grad=False)
                                       for h, c in zip(heads or [None] * 5, CHANNELS, strict=True)])
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, h = [], (x - self.shift) / self.scale
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in TAPS:
                out.append(h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Distances (N,) between images x and y (N, 3, H, W) in [-1, 1]; gray (N, 1, H, W) is repeated."""
        if x.shape[1] == 1:
            x, y = x.repeat(1, 3, 1, 1), y.repeat(1, 3, 1, 1)
        total = x.new_zeros(x.shape[0])
        for fx, fy, w in zip(self.taps(x), self.taps(y), self.heads, strict=True):
            total = total + ((fx - fy) ** 2 * w).sum(dim=1).mean(dim=(1, 2))
        return total


def load_lpips(path: str | Path | None = None, download: bool = True) -> LPIPS:
    """The released LPIPS v0.1 (AlexNet); `path` may name a folder that holds both files."""
    purpose = "LPIPS (diversity)"
    alex = torch.load(find_weights(ALEXNET_FILE, ALEXNET_URL, purpose, path, "MUNIT_LPIPS_WEIGHTS", download),
                      map_location="cpu", weights_only=True)
    heads = torch.load(find_weights(HEADS_FILE, HEADS_URL, purpose, path, "MUNIT_LPIPS_WEIGHTS", download),
                       map_location="cpu", weights_only=True)
    features = alexnet_features()
    features.load_state_dict({k[len("features."):]: v for k, v in alex.items() if k.startswith("features.")})
    return LPIPS(features, [heads[f"lin{i}.model.1.weight"] for i in range(5)])
