"""VGG16 features for the domain-invariant perceptual loss (MUNIT paper, Sec. 4, "perceptual loss").

As in the reference, features are relu5_3 of a VGG16 with max-pools after blocks 1-3 only (1/8
resolution), compared after instance norm. Weights are read from a local file, never downloaded:
torchvision's `vgg16-397923af.pth` (RGB input in [0, 1] normalised by ImageNet mean/std) or the
reference's converted `vgg16.weight` (Caffe BGR input in [0, 255] minus the BGR means).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from munit.errors import UsageError
from munit.weights import WeightsMissing, find_weights

TORCHVISION_FILE = "vgg16-397923af.pth"
TORCHVISION_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
REFERENCE_FILE = "vgg16.weight"
BLOCKS = ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3))
TORCHVISION_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.680)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGWeightsMissing(WeightsMissing):
    """The VGG16 weights of the perceptual loss are not there."""


class Vgg16Features(nn.Module):
    """(N, 3, H, W) RGB in [-1, 1] -> relu5_3 features (N, 512, H / 8, W / 8)."""

    def __init__(self, caffe: bool = False):
        super().__init__()
        self.caffe = caffe
        self.convs = nn.ModuleList(
            nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1)
            for cin, cout, n in BLOCKS for i in range(n)
        )
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._preprocess(x)
        k = 0
        for block, (_, _, n) in enumerate(BLOCKS):
            for _ in range(n):
                x = F.relu(self.convs[k](x))
                k += 1
            if block < 3:
                x = F.max_pool2d(x, 2, 2)
        return x

    def _preprocess(self, x: torch.Tensor) -> torch.Tensor:
        if self.caffe:
            bgr = (x.flip(1) + 1) * 127.5
            return bgr - x.new_tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1)
        rgb = (x + 1) / 2
        return (rgb - x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)


def find_vgg_weights(path: str | None) -> Path:
    """The VGG16 file (torchvision's or the reference's): `path` (file or folder), else $MUNIT_VGG16, else
    torch's hub cache. Never downloaded: training should not fetch 528 MB unasked."""
    return find_weights(TORCHVISION_FILE, TORCHVISION_URL, "the perceptual loss (vgg_w > 0; the config's "
                        "vgg_model_path)", path, "MUNIT_VGG16", download=False,
                        other_names=(REFERENCE_FILE, f"models/{REFERENCE_FILE}"), missing=VGGWeightsMissing)


def load_vgg16(path: str | None = None) -> Vgg16Features:
    file = find_vgg_weights(path)
    state = torch.load(file, map_location="cpu", weights_only=True)
    if "features.0.weight" in state:
        net = Vgg16Features(caffe=False)
        names = [f"features.{i}" for i in TORCHVISION_INDICES]
    elif "conv1_1.weight" in state:
        net = Vgg16Features(caffe=True)
        names = [f"conv{b + 1}_{i + 1}" for b, (_, _, n) in enumerate(BLOCKS) for i in range(n)]
    else:
        raise UsageError(f"{file}: not a VGG16 state dict (expected torchvision 'features.0.weight' "
                         "or the reference's 'conv1_1.weight' keys)")
    mapped = {}
    for k, name in enumerate(names):
        for p in ("weight", "bias"):
            if f"{name}.{p}" not in state:
                raise UsageError(f"{file}: missing key {name}.{p}")
            mapped[f"convs.{k}.{p}"] = state[f"{name}.{p}"]
    net.load_state_dict(mapped)
    return net.eval()


def perceptual_loss(vgg: Vgg16Features, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of instance-normalised VGG features; gray / RGBA images use their RGB."""
    a, b = vgg(_rgb(image)), vgg(_rgb(target))
    return torch.mean((F.instance_norm(a) - F.instance_norm(b)) ** 2)


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x[:, :3]


# VGG19 for pix2pixHD's and SPADE's perceptual loss: relu1_1 ... relu5_1, L1 per layer with weights 1/32 to 1.
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_CONVS = ((3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 256),
               (256, 512), (512, 512), (512, 512), (512, 512), (512, 512))  # conv1_1 ... conv5_1.
VGG19_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28)  # Their places in torchvision's `features`.
VGG19_TAPS = (0, 2, 4, 8, 12)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1: after these convs.
VGG19_POOLS = (1, 3, 7, 11)  # Max-pool after these convs.
VGG19_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


class Vgg19Layers(nn.Module):
    """(N, 3, H, W) -> the five relu*_1 feature maps. Images go in as they are, in [-1, 1], without
    ImageNet normalisation, as pix2pixHD's and SPADE's code feed them."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(cin, cout, 3, padding=1) for cin, cout in VGG19_CONVS)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for k, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if k in VGG19_TAPS:
                out.append(x)
            if k in VGG19_POOLS:
                x = F.max_pool2d(x, 2, 2)
        return out


def load_vgg19(path: str | None = None) -> Vgg19Layers:
    """torchvision's VGG19 file: `path` (file or folder, the config's vgg_model_path), $MUNIT_VGG19, or the
    hub cache; never downloaded."""
    file = find_weights(VGG19_FILE, VGG19_URL, "the VGG perceptual loss of pix2pixHD and SPADE (vgg_w > 0; the "
                        "config's vgg_model_path)", path, "MUNIT_VGG19", download=False, missing=VGGWeightsMissing)
    state = torch.load(file, map_location="cpu", weights_only=True)
    net = Vgg19Layers()
    mapped = {}
    for k, index in enumerate(VGG19_INDICES):
        for p in ("weight", "bias"):
            key = f"features.{index}.{p}"
            if key not in state or state[key].shape != getattr(net.convs[k], p).shape:
                raise UsageError(f"{file}: not torchvision's VGG19 ({key} missing or of another shape)")
            mapped[f"convs.{k}.{p}"] = state[key]
    net.load_state_dict(mapped)
    return net.eval()


def vgg19_loss(vgg: Vgg19Layers, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """pix2pixHD's VGGLoss: sum over the five layers of weight x L1 between the features, target detached."""
    a, b = vgg(_rgb(image)), vgg(_rgb(target))
    return sum(w * F.l1_loss(x, y.detach()) for w, x, y in zip(VGG19_WEIGHTS, a, b, strict=True))
