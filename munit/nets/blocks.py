"""Layers shared by the generators and discriminators.

Module and attribute names follow NVlabs/MUNIT's `networks.py` so that a state dict maps one-to-one onto
the reference checkpoints (e.g. `dec.model.2.norm.gamma`, `enc_style.model.6.weight`).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

PAD_TYPES = ("reflect", "replicate", "zero")
ACTIVATIONS = ("relu", "lrelu", "prelu", "selu", "tanh", "none")
NORMS = ("bn", "in", "ln", "adain", "sn", "none")

AdaINAffine = tuple[torch.Tensor, torch.Tensor]  # (weight, bias), each (N, C)


HALF_TYPES = (torch.float16, torch.bfloat16)


def float32(x: torch.Tensor) -> torch.Tensor:
    """`x` in float32 if it is a half type (mixed precision's), else itself (float32 and float64 unchanged)."""
    return x.float() if x.dtype in HALF_TYPES else x


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast off inside (float32 matmuls), where it is on; otherwise nothing, so that float32 runs, export
    and compilation see no context at all."""
    if device.type != "meta" and torch.is_autocast_enabled(device.type):  # Meta (size estimates): no autocast.
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def make_activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if name == "prelu":
        return nn.PReLU()
    if name == "selu":
        return nn.SELU(inplace=True)
    if name == "tanh":
        return nn.Tanh()
    if name == "none":
        return nn.Identity()
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


def make_pad(pad_type: str, padding: int) -> nn.Module:
    if pad_type == "reflect":
        return nn.ReflectionPad2d(padding)
    if pad_type == "replicate":
        return nn.ReplicationPad2d(padding)
    if pad_type == "zero":
        return nn.ZeroPad2d(padding)
    raise ValueError(f"pad_type must be one of {PAD_TYPES}, got {pad_type!r}")


class LayerNorm(nn.Module):
    """The reference's layer norm: per-sample statistics over C, H and W, per-channel affine.

    y = (x - mean) / (std + eps) * gamma + beta with the *unbiased* std and eps added to the std, which
    is neither `nn.LayerNorm` nor `nn.GroupNorm(1, C)`; gamma starts uniform in [0, 1) as in the reference.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.rand(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        shape = (-1,) + (1,) * (x.dim() - 1)
        mean = flat.mean(1).view(shape)
        std = flat.std(1).view(shape)
        x = (x - mean) / (std + self.eps)
        affine_shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.gamma.view(affine_shape) + self.beta.view(affine_shape)


class AdaptiveInstanceNorm2d(nn.Module):
    """Instance norm whose affine parameters are passed to `forward` (computed from a style code).

    The reference stores them on the module between the MLP and the decoder; passing them in keeps the
    decoder stateless (DDP, torch.compile). The two buffers are never used: they exist only because
    reference checkpoints contain them, so that those load with `strict=True`.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        # Batch norm over (1, N*C, H, W) is instance norm with a per-(sample, channel) affine; the same
        # kernel as the reference, so results match it bit for bit (L1 gradients are sign-sensitive).
        n, c = x.shape[:2]
        out = F.batch_norm(x.reshape(1, n * c, *x.shape[2:]), None, None, weight.reshape(-1), bias.reshape(-1),
                           training=True, eps=self.eps)
        return out.view_as(x)


class SpectralNorm(nn.Module):
    """Spectral normalisation with one power iteration per forward, in the reference's key layout.

    Keys: `module.weight_bar` (trained), `module.weight_u`, `module.weight_v` (power-iteration state,
    stored as frozen parameters as the reference does), `module.bias`.
    """

    def __init__(self, module: nn.Conv2d | nn.Linear):
        super().__init__()
        weight = module.weight
        del module.weight
        height = weight.shape[0]
        width = weight[0].numel()
        module.weight_u = nn.Parameter(_l2_normalize(weight.new_empty(height).normal_()), requires_grad=False)
        module.weight_v = nn.Parameter(_l2_normalize(weight.new_empty(width).normal_()), requires_grad=False)
        module.weight_bar = nn.Parameter(weight.detach().clone())
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.module
        w = m.weight_bar.view(m.weight_bar.shape[0], -1)
        if self.training:
            with torch.no_grad():
                m.weight_v.copy_(_l2_normalize(w.t() @ m.weight_u))
                m.weight_u.copy_(_l2_normalize(w @ m.weight_v))
        # Clones: the next call's power iteration updates u and v in place, and this call's backward needs
        # them as they are now (exact mode calls a discriminator on fakes and reals before one backward).
        u, v = (m.weight_u.clone(), m.weight_v.clone()) if self.training else (m.weight_u, m.weight_v)
        sigma = u @ (w @ v)
        weight = m.weight_bar / sigma
        if isinstance(m, nn.Linear):
            return F.linear(x, weight, m.bias)
        return F.conv2d(x, weight, m.bias, m.stride, m.padding, m.dilation, m.groups)


def _l2_normalize(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return v / (v.norm() + eps)


class Conv2dBlock(nn.Module):
    """pad -> conv (bias always on) -> norm -> activation; `affine` feeds an AdaIN norm."""

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, stride: int, padding: int = 0,
                 norm: str = "none", activation: str = "relu", pad_type: str = "zero"):
        super().__init__()
        # Registration order pad, norm, activation, conv: the reference's state-dict order.
        self.pad = make_pad(pad_type, padding)
        self.adaptive = norm == "adain"
        self.norm = _make_norm2d(norm, out_dim)
        self.activation = make_activation(activation)
        conv = nn.Conv2d(in_dim, out_dim, kernel_size, stride)
        self.conv = SpectralNorm(conv) if norm == "sn" else conv

    def forward(self, x: torch.Tensor, affine: AdaINAffine | None = None) -> torch.Tensor:
        x = self.conv(self.pad(x))
        # Normalisation statistics in float32 under mixed precision: a bf16 mean and std of a whole feature
        # map keep 8 bits, and AdaIN's affine scales that error by the style's weight.
        if self.adaptive:
            if affine is None:
                raise ValueError("an AdaIN block needs its (weight, bias) from the style MLP")
            x = self.norm(float32(x), *map(float32, affine))
        elif self.norm is not None:
            x = self.norm(float32(x))
        return self.activation(x)


def _make_norm2d(norm: str, channels: int) -> nn.Module | None:
    if norm == "bn":
        return nn.BatchNorm2d(channels)
    if norm == "in":
        return nn.InstanceNorm2d(channels)
    if norm == "ln":
        return LayerNorm(channels)
    if norm == "adain":
        return AdaptiveInstanceNorm2d(channels)
    if norm in ("none", "sn"):
        return None
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


class LinearBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, activation: str = "relu"):
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)
        self.activation = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.fc(x))


class MLP(nn.Module):
    """n_blk linear layers; the last has no activation. Accepts (N, D) or (N, D, 1, 1) input."""

    def __init__(self, in_dim: int, out_dim: int, dim: int, n_blk: int, activation: str = "relu"):
        super().__init__()
        layers = [LinearBlock(in_dim, dim, activation)]
        layers += [LinearBlock(dim, dim, activation) for _ in range(n_blk - 2)]
        layers.append(LinearBlock(dim, out_dim, "none"))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In float32 under mixed precision: MUNIT's style MLP makes every AdaIN scale and bias, and these
        # multiply whole feature maps. It is a few small matrix products.
        with full_precision(x.device):
            return self.model(float32(x.flatten(1)))


class ResBlock(nn.Module):
    def __init__(self, dim: int, norm: str, activation: str, pad_type: str):
        super().__init__()
        self.model = nn.ModuleList([
            Conv2dBlock(dim, dim, 3, 1, 1, norm, activation, pad_type),
            Conv2dBlock(dim, dim, 3, 1, 1, norm, "none", pad_type),
        ])

    def forward(self, x: torch.Tensor, affines: list[AdaINAffine] | None = None) -> torch.Tensor:
        first, second = affines if affines is not None else (None, None)
        return x + self.model[1](self.model[0](x, first), second)


class ResBlocks(nn.Module):
    def __init__(self, num_blocks: int, dim: int, norm: str, activation: str, pad_type: str):
        super().__init__()
        self.model = nn.ModuleList(ResBlock(dim, norm, activation, pad_type) for _ in range(num_blocks))

    @property
    def num_adain_layers(self) -> int:
        return 2 * len(self.model) if self.model[0].model[0].adaptive else 0

    def forward(self, x: torch.Tensor, affines: list[AdaINAffine] | None = None) -> torch.Tensor:
        for i, block in enumerate(self.model):
            x = block(x, affines[2 * i: 2 * i + 2] if affines is not None else None)
        return x


def init_weights(module: nn.Module, kind: str, gain: float = 2 ** 0.5) -> None:
    """The reference's `weights_init`: every Conv/Linear weight, biases zeroed; other params untouched.
    Transposed convs too: the reference's and CycleGAN's code pick modules by class name ("Conv" in it).
    `gain` of xavier and orthogonal: the reference's sqrt(2); CUT's code uses 0.02."""
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) or getattr(m, "weight", None) is None:
            continue
        if kind == "gaussian":
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif kind == "kaiming":
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
        elif kind == "xavier":
            nn.init.xavier_normal_(m.weight, gain=gain)
        elif kind == "orthogonal":
            nn.init.orthogonal_(m.weight, gain=gain)
        elif kind != "default":
            raise ValueError(f"init must be one of gaussian, kaiming, xavier, orthogonal, default; got {kind!r}")
        if m.bias is not None:
            nn.init.zeros_(m.bias)


@contextlib.contextmanager
def batch_statistics(net: nn.Module):
    """`net` with its batch norms normalising by the batch's own statistics (the running ones left as they
    are) and its dropout on, as the official pix2pix test.py runs without --eval; back as it was after."""
    switched = [m for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.Dropout))]
    saved = [(m.training, getattr(m, "track_running_stats", None)) for m in switched]
    for m in switched:
        m.train()
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats = False  # Training mode without updating the running statistics.
    try:
        yield net
    finally:
        for m, (training, track) in zip(switched, saved, strict=True):
            m.train(training)
            if track is not None:
                m.track_running_stats = track
