"""MUNIT's auto-encoder: content encoder, style encoder and AdaIN decoder (paper Sec. 3, Fig. 3)."""

from __future__ import annotations

import torch
from torch import nn

from munit.nets.blocks import MLP, AdaINAffine, Conv2dBlock, ResBlocks

STYLE_ENCODER_DOWNSAMPLES = 4  # Fixed in the reference, whatever gen.n_downsample says.


class StyleEncoder(nn.Module):
    """(N, C_in, H, W) in [-1, 1] -> style code (N, style_dim, 1, 1). No normalisation layers."""

    def __init__(self, in_dim: int, dim: int, style_dim: int, activation: str, pad_type: str):
        super().__init__()
        layers = [Conv2dBlock(in_dim, dim, 7, 1, 3, "none", activation, pad_type)]
        for _ in range(2):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, "none", activation, pad_type))
            dim *= 2
        for _ in range(STYLE_ENCODER_DOWNSAMPLES - 2):
            layers.append(Conv2dBlock(dim, dim, 4, 2, 1, "none", activation, pad_type))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, style_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ContentEncoder(nn.Module):
    """(N, C_in, H, W) -> content code (N, dim * 2**n_downsample, H / 2**n_downsample, W / 2**n_downsample)."""

    def __init__(self, n_downsample: int, n_res: int, in_dim: int, dim: int, activation: str, pad_type: str):
        super().__init__()
        layers = [Conv2dBlock(in_dim, dim, 7, 1, 3, "in", activation, pad_type)]
        for _ in range(n_downsample):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, "in", activation, pad_type))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, "in", activation, pad_type))
        self.model = nn.Sequential(*layers)
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The maps PatchNCE contrasts, as CUT picks them from its generator's encoder: the input, each
        downsampling conv's output, and the outputs of the first and the middle residual block."""
        *convs, res = self.model
        feats = [x]
        for i, conv in enumerate(convs):
            x = conv(x)
            if i:
                feats.append(x)
        picked = {0, len(res.model) // 2}
        for i, block in enumerate(res.model):
            if i > max(picked):
                break
            x = block(x)
            if i in picked:
                feats.append(x)
        return feats


class Decoder(nn.Module):
    """Content code -> image in [-1, 1]: residual blocks (AdaIN or IN), then nearest upsampling + 5x5
    conv + layer norm per level, then a 7x7 conv and tanh."""

    def __init__(self, n_upsample: int, n_res: int, dim: int, out_dim: int, res_norm: str, activation: str,
                 pad_type: str):
        super().__init__()
        layers: list[nn.Module] = [ResBlocks(n_res, dim, res_norm, activation, pad_type)]
        for _ in range(n_upsample):
            layers.append(nn.Upsample(scale_factor=2))
            layers.append(Conv2dBlock(dim, dim // 2, 5, 1, 2, "ln", activation, pad_type))
            dim //= 2
        layers.append(Conv2dBlock(dim, out_dim, 7, 1, 3, "none", "tanh", pad_type))
        self.model = nn.ModuleList(layers)

    @property
    def num_adain_params(self) -> int:
        res_blocks = self.model[0]
        channels = res_blocks.model[0].model[0].conv.out_channels
        return 2 * channels * res_blocks.num_adain_layers

    def forward(self, content: torch.Tensor, adain_params: torch.Tensor | None = None) -> torch.Tensor:
        res_blocks, *rest = self.model
        x = res_blocks(content, split_adain_params(adain_params, content.shape[1]) if adain_params is not None
                       else None)
        for layer in rest:
            x = layer(x)
        return x


def split_adain_params(params: torch.Tensor, channels: int) -> list[AdaINAffine]:
    """(N, 2 * C * L) MLP output -> L (weight, bias) pairs, each (N, C).

    Layer k reads its bias from columns [2Ck, 2Ck + C) and its weight from [2Ck + C, 2C(k + 1)), the
    reference's order; the MLP output is used raw (no +1 on the scale).
    """
    n = params.shape[0]
    per_layer = params.view(n, -1, 2, channels)
    return [(per_layer[:, k, 1], per_layer[:, k, 0]) for k in range(per_layer.shape[1])]


class AdaINGen(nn.Module):
    """MUNIT's generator for one domain: `encode(x) -> (content, style)`, `decode(content, style) -> x`.

    Images are (N, C_in, H, W) in [-1, 1] with H and W multiples of 2**n_downsample and at least 16.
    """

    def __init__(self, in_dim: int, dim: int = 64, style_dim: int = 8, n_downsample: int = 2, n_res: int = 4,
                 activ: str = "relu", pad_type: str = "reflect", mlp_dim: int = 256):
        super().__init__()
        self.style_dim = style_dim
        self.enc_style = StyleEncoder(in_dim, dim, style_dim, activ, pad_type)
        self.enc_content = ContentEncoder(n_downsample, n_res, in_dim, dim, activ, pad_type)
        self.dec = Decoder(n_downsample, n_res, self.enc_content.out_dim, in_dim, "adain", activ, pad_type)
        self.mlp = MLP(style_dim, self.dec.num_adain_params, mlp_dim, 3, activ)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.enc_content(x), self.enc_style(x)

    def encode_content(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc_content(x)

    def encode_style(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc_style(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """content (N, C, h, w), style (N, style_dim[, 1, 1]) -> image (N, C_in, H, W) in [-1, 1]."""
        return self.dec(content, self.mlp(style))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(*self.encode(x))


class VAEGen(nn.Module):
    """UNIT's generator for one domain: `encode(x) -> (hidden, noise)`, `decode(hidden) -> x`.

    The reference's "reduced VAE": the posterior is N(hidden, I), so sampling adds unit Gaussian noise
    (in training only) and the KL term is mean(hidden**2). Decoder residual blocks use instance norm.
    """

    def __init__(self, in_dim: int, dim: int = 64, n_downsample: int = 2, n_res: int = 4, activ: str = "relu",
                 pad_type: str = "reflect", **_unused):
        super().__init__()
        self.enc = ContentEncoder(n_downsample, n_res, in_dim, dim, activ, pad_type)
        self.dec = Decoder(n_downsample, n_res, self.enc.out_dim, in_dim, "in", activ, pad_type)

    def encode(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden, noise); the noise is drawn unless given (the reference draws it on every call)."""
        hidden = self.enc(x)
        return hidden, torch.randn_like(hidden) if noise is None else noise

    def decode(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dec(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.enc(x))
