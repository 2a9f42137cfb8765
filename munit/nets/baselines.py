"""Networks of the baselines: CycleGAN's ResNet generator (and CUT's antialiased one), the PatchGAN
discriminator, the U-Net of pix2pix / BicycleGAN and BicycleGAN's latent encoder (layer recipes from the
respective papers)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from munit.nets.blocks import Conv2dBlock, LayerNorm, ResBlocks, float32, full_precision


def _binomial(taps: int) -> torch.Tensor:
    """The 2-D binomial filter of `taps` taps per side ([1, 2, 1], [1, 3, 3, 1]), summing to 1."""
    row = torch.tensor([1.0, 2.0, 1.0] if taps == 3 else [1.0, 3.0, 3.0, 1.0])
    kernel = row[:, None] * row[None, :]
    return kernel / kernel.sum()


class BlurDown(nn.Module):
    """Antialiased downsampling (Zhang, ICML 2019; CUT's default): reflect pad 1, a fixed [1, 2, 1]^2 / 16
    blur per channel, stride 2. The filter is a buffer (`filt`), as in CUT's files."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", _binomial(3).expand(channels, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class BlurUp(nn.Module):
    """Antialiased 2x upsampling (CUT): replicate pad 1, a transposed conv with the fixed [1, 3, 3, 1]^2
    filter scaled by 4 (stride 2, padding 2), cropped to exactly twice the input size."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", (4 * _binomial(4)).expand(channels, 1, 4, 4).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.filt, stride=2, padding=2,
                               groups=x.shape[1])
        return y[:, :, 1:-1, 1:-1]


class ResnetGenerator(nn.Module):
    """CycleGAN (Zhu et al. 2017, after Johnson et al. 2016): c7s1-dim, n_downsample stride-2 convs,
    n_res residual blocks, as many stride-2 transposed convs, c7s1 + tanh. Instance norm throughout.

    `antialias` samples as CUT does (Park et al. 2020): a stride-1 conv then `BlurDown` instead of each
    stride-2 conv, `BlurUp` then a conv instead of each transposed conv.
    """

    def __init__(self, in_dim: int, out_dim: int, dim: int = 64, n_downsample: int = 2, n_res: int = 9,
                 pad_type: str = "reflect", antialias: bool = False):
        super().__init__()
        layers: list[nn.Module] = [Conv2dBlock(in_dim, dim, 7, 1, 3, "in", "relu", pad_type)]
        for _ in range(n_downsample):
            if antialias:
                layers += [Conv2dBlock(dim, 2 * dim, 3, 1, 1, "in", "relu", "zero"), BlurDown(2 * dim)]
            else:
                layers.append(Conv2dBlock(dim, 2 * dim, 3, 2, 1, "in", "relu", "zero"))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, "in", "relu", pad_type))
        for _ in range(n_downsample):
            if antialias:
                layers += [BlurUp(dim), Conv2dBlock(dim, dim // 2, 3, 1, 1, "in", "relu", "zero")]
            else:
                layers += [nn.ConvTranspose2d(dim, dim // 2, 3, 2, 1, output_padding=1),
                           nn.InstanceNorm2d(dim // 2), nn.ReLU(inplace=True)]
            dim //= 2
        layers.append(Conv2dBlock(dim, out_dim, 7, 1, 3, "none", "tanh", pad_type))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """`noise` is accepted and ignored, so that CycleGAN's calls serve both generators."""
        return self.model(x)

    def features(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        """The activations after the given layers, numbered as in the official generator's flat
        `nn.Sequential` (CUT's `nce_layers`: 0 is the padded input, 4 the first downsampling conv, 12 and
        16 the 1st and 5th residual blocks of the 9-block net); stops after the last one asked for."""
        steps = [step for step, _ in self._layers()]
        if not layers or max(layers) >= len(steps) or min(layers) < 0:
            raise ValueError(f"layers {layers}: this generator has layers 0 to {len(steps) - 1}")
        feats = []
        for i, step in enumerate(steps[: max(layers) + 1]):
            x = step(x)
            if i in layers:
                feats.append(x)
        return feats

    def official_prefixes(self) -> dict[str, str]:
        """Module prefixes of this net -> those of the official generator (CycleGAN's or CUT's), whose
        layers are the positions of one flat `nn.Sequential`."""
        return {ours: f"model.{i}{suffix}" for i, (_, names) in enumerate(self._layers()) for ours, suffix in names}

    def _layers(self) -> list[tuple[Callable[[torch.Tensor], torch.Tensor], list[tuple[str, str]]]]:
        """The forward pass as the official layer list, each step with (our module prefix, suffix of the
        official one) for the modules holding tensors. Pad, conv, norm and activation are layers of their
        own, except a zero pad: the official conv pads itself."""
        layers: list = []
        for j, layer in enumerate(self.model):
            if isinstance(layer, Conv2dBlock):
                if isinstance(layer.pad, nn.ZeroPad2d):
                    layers.append((lambda x, b=layer: b.conv(b.pad(x)), [(f"model.{j}.conv", "")]))
                else:
                    layers += [(layer.pad, []), (layer.conv, [(f"model.{j}.conv", "")])]
                layers += [(m, []) for m in (layer.norm, layer.activation)
                           if m is not None and not isinstance(m, nn.Identity)]
            elif isinstance(layer, ResBlocks):
                layers += [(block, [(f"model.{j}.model.{b}.model.0.conv", ".conv_block.1"),
                                    (f"model.{j}.model.{b}.model.1.conv", ".conv_block.5")])
                           for b, block in enumerate(layer.model)]
            else:
                layers.append((layer, [(f"model.{j}", "")]))
        return layers


def with_latent(x: torch.Tensor, z: torch.Tensor | None, dim: int) -> torch.Tensor:
    """Concatenate a per-image vector z (N, dim), broadcast over H and W, to the channels of x."""
    if dim == 0:
        return x
    if z is None:
        raise ValueError(f"this generator needs a latent vector of {dim} values per image")
    return torch.cat([x, z.view(z.shape[0], dim, 1, 1).expand(-1, -1, *x.shape[2:])], 1)


class PatchDis(nn.Module):
    """The 70x70 PatchGAN of pix2pix / CycleGAN with n_layer = 3: stride-2 4x4 convs (no norm on the
    first), a stride-1 conv, then a 1-channel stride-1 conv. Returns a one-element list of patch maps, the
    same form as `MsImageDis`, so the adversarial losses are shared."""

    def __init__(self, in_dim: int, dim: int = 64, n_layer: int = 3, norm: str = "in"):
        super().__init__()
        layers = [Conv2dBlock(in_dim, dim, 4, 2, 1, "none", "lrelu")]
        for i in range(1, n_layer + 1):
            out = dim * min(2 ** i, 8)
            layers.append(Conv2dBlock(dim * min(2 ** (i - 1), 8), out, 4, 2 if i < n_layer else 1, 1, norm, "lrelu"))
        layers.append(Conv2dBlock(dim * min(2 ** n_layer, 8), 1, 4, 1, 1, "none", "none"))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.model(x)]


class UnetGenerator(nn.Module):
    """U-Net of pix2pix: `levels` stride-2 4x4 convs down to 1x1 (levels = log2 of the image side), mirrored
    by transposed convs with skip connections; dropout 0.5 in the up levels between two 8*dim levels.
    `norm` "in" (munit's default), "bn" (the official pix2pix; its convs then have no bias but the last) or
    "ln" (layer norm, which keeps per-channel offsets: a global colour, or a broadcast latent's effect).
    A latent vector z (`latent_dim` > 0) enters where `where_add` says: "input" (concatenated, broadcast,
    to the image) or "all" (to the input of every down level), the official BicycleGAN's two ways; or
    "norm" (munit's): every norm of the up path (or of its `mod_levels` innermost levels, when > 0) is
    followed by a per-channel scale and shift computed from z by a linear layer, as AdaIN does. A broadcast
    z concatenated before a conv adds a constant to each channel, which the instance norm after the conv
    removes: only the outermost and innermost levels carry it to the output (docs/results.md, issue 17)."""

    def __init__(self, in_dim: int, out_dim: int, levels: int, dim: int = 64, latent_dim: int = 0,
                 dropout: bool = True, norm: str = "in", where_add: str = "all", mod_levels: int = 0):
        super().__init__()
        if where_add not in ("input", "all", "norm"):
            raise ValueError(f"where_add must be input, all or norm; got {where_add!r}")
        if not 0 <= mod_levels < levels:
            raise ValueError(f"mod_levels must be 0 (all) to {levels - 1} (the normalised up levels); got {mod_levels}")
        self.latent_dim, self.where_add = latent_dim, where_add
        self.concat = [latent_dim if where_add == "all" or (where_add == "input" and i == 0) else 0
                       for i in range(levels)]  # Latent channels concatenated to each down level's input.
        widths = [dim * min(2 ** i, 8) for i in range(levels)]
        norms = {"in": (nn.InstanceNorm2d, True), "ln": (LayerNorm, True), "bn": (nn.BatchNorm2d, False)}
        make_norm, bias = norms[norm]
        self.down = nn.ModuleList()
        previous = in_dim
        for i, width in enumerate(widths):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(previous + self.concat[i], width, 4, 2, 1, bias=bias))
            if 0 < i < levels - 1:
                layers.append(make_norm(width))
            self.down.append(nn.Sequential(*layers))
            previous = width
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            in_width = widths[i] if i == levels - 1 else 2 * widths[i]
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(in_width, out_dim, 4, 2, 1), nn.Tanh()))
                continue
            layers = [nn.ReLU(), nn.ConvTranspose2d(in_width, widths[i - 1], 4, 2, 1, bias=bias),
                      make_norm(widths[i - 1])]
            if dropout and widths[i - 1] == 8 * dim and i < levels - 1:  # pix2pix's middle 8*dim blocks.
                layers.append(nn.Dropout(0.5))
            self.up.append(nn.Sequential(*layers))
        # One (scale, shift) layer per normalised up level, in the order of `up`.
        modulated = list(reversed(range(1, levels)))[:mod_levels or None]
        self.modulation = nn.ModuleList(nn.Linear(latent_dim, 2 * widths[i - 1]) for i in modulated
                                        if latent_dim and where_add == "norm")

    def reset_modulation(self) -> None:
        """PyTorch's default init for the modulation layers (uniform, bound 1/sqrt(latent_dim)): z then moves
        each channel's scale by about half from the start. With N(0, 0.02) or zero weights G starts blind to
        z and learns to use it several times more slowly (issue 17)."""
        for layer in self.modulation:
            layer.reset_parameters()

    def official_prefixes(self) -> dict[str, str]:
        """Module prefixes of this net -> those of the official pix2pix `UnetGenerator`, whose levels nest
        (`model.model.1.model.3.model...`). Its up convs take [skip, up] where this net takes [up, skip]:
        see `swap_skip_halves`."""
        levels, names, prefix = len(self.down), {}, "model.model"
        for k in range(levels):
            up = f"up.{levels - 1 - k}"
            if k == 0:  # Outermost: conv, the inner levels, relu, up conv, tanh.
                names |= {"down.0.0": f"{prefix}.0", f"{up}.1": f"{prefix}.3"}
            elif k < levels - 1:  # lrelu, conv, norm, inner levels, relu, up conv, norm (dropout).
                names |= {f"down.{k}.1": f"{prefix}.1", f"down.{k}.2": f"{prefix}.2", f"{up}.1": f"{prefix}.5",
                          f"{up}.2": f"{prefix}.6"}
            else:  # Innermost: lrelu, conv, relu, up conv, norm.
                names |= {f"down.{k}.1": f"{prefix}.1", f"{up}.1": f"{prefix}.3", f"{up}.2": f"{prefix}.4"}
            prefix += ".1.model" if k == 0 else ".3.model"
        return names

    def swap_skip_halves(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`state` with the input channels of the up convs that take a skip connection swapped between the
        official order [skip, up] and this net's [up, skip] (the same swap both ways)."""
        out = dict(state)
        for j in range(1, len(self.up)):
            key = f"up.{j}.1.weight"
            half = out[key].shape[0] // 2
            out[key] = torch.cat([out[key][half:], out[key][:half]])
        return out

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        skips = []
        for layer, extra in zip(self.down, self.concat, strict=True):
            x = layer(with_latent(x, z, extra))
            skips.append(x)
        x = self.up[0](skips.pop())
        for j, layer in enumerate(self.up[1:]):
            x = self._modulate(x, z, j)
            x = layer(torch.cat([x, skips.pop()], 1))
        return x

    def _modulate(self, x: torch.Tensor, z: torch.Tensor | None, j: int) -> torch.Tensor:
        """The output of up level j scaled and shifted per channel by z (where_add "norm"), if it is one of
        the modulated levels."""
        if j >= len(self.modulation):
            return x
        if z is None:
            raise ValueError(f"this generator needs a latent vector of {self.latent_dim} values per image")
        scale, shift = self.modulation[j](z.view(z.shape[0], self.latent_dim)).chunk(2, 1)
        return x * (1 + scale[:, :, None, None]) + shift[:, :, None, None]


class LatentEncoder(nn.Module):
    """BicycleGAN's encoder E: image -> (mu, logvar) of an 8-d Gaussian latent. Strided convs, global
    average pooling, two linear heads. No instance norm: it would erase the per-channel statistics (the
    colours) that the latent has to carry, as in MUNIT's style encoder."""

    def __init__(self, in_dim: int, latent_dim: int = 8, dim: int = 64, n_downsample: int = 4):
        super().__init__()
        layers = [Conv2dBlock(in_dim, dim, 4, 2, 1, "none", "lrelu")]
        for i in range(1, n_downsample):
            layers.append(Conv2dBlock(dim * min(2 ** (i - 1), 4), dim * min(2 ** i, 4), 4, 2, 1, "none", "lrelu"))
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.model = nn.Sequential(*layers)
        width = dim * min(2 ** (n_downsample - 1), 4)
        self.mu = nn.Linear(width, latent_dim)
        self.logvar = nn.Linear(width, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.model(x).flatten(1)
        return self.mu(h), self.logvar(h)


class CodeHead(nn.Module):
    """InfoGAN's Q as a network of its own: image -> (N, code_dim), the code it was made from (logits for a
    categorical part). Strided convs without norm (a code can live in colour statistics), global average
    pooling, a linear layer."""

    def __init__(self, in_dim: int, code_dim: int, dim: int = 64, n_downsample: int = 4):
        super().__init__()
        layers = [Conv2dBlock(in_dim, dim, 4, 2, 1, "none", "lrelu")]
        for i in range(1, n_downsample):
            layers.append(Conv2dBlock(dim * min(2 ** (i - 1), 4), dim * min(2 ** i, 4), 4, 2, 1, "none", "lrelu"))
        self.model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out = nn.Linear(dim * min(2 ** (n_downsample - 1), 4), code_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.model(x))


class PatchSampler(nn.Module):
    """CUT's PatchSampleF: for each feature map, the vectors at `ids` (positions in the flattened H x W,
    the same for every image of the batch; drawn when not given), each through a Linear-ReLU-Linear head of
    `dim` channels (one per map: `mlp_0`, `mlp_1`, ... as in the authors' files), L2-normalised. The
    authors create the heads on the first batch; here the map channels are given, so they exist from the
    start and a checkpoint holds them like any network."""

    def __init__(self, channels: list[int], dim: int = 256):
        super().__init__()
        self.num_maps = len(channels)
        for i, c in enumerate(channels):
            self.add_module(f"mlp_{i}", nn.Sequential(nn.Linear(c, dim), nn.ReLU(), nn.Linear(dim, dim)))

    def forward(self, feats: list[torch.Tensor], num_patches: int, ids: list[torch.Tensor] | None = None
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        out, used = [], []
        for i, feat in enumerate(feats):
            flat = feat.flatten(2).transpose(1, 2)  # (N, H*W, C)
            idx = ids[i] if ids is not None else torch.randperm(flat.shape[1], device=feat.device)[:num_patches]
            # In float32 under mixed precision: PatchNCE compares unit vectors whose dot products are divided
            # by a temperature of 0.07, which magnifies bf16's rounding of them 14 times.
            with full_precision(feat.device):
                x = getattr(self, f"mlp_{i}")(float32(flat[:, idx].flatten(0, 1)))
            out.append(x / (x.norm(dim=1, keepdim=True) + 1e-7))
            used.append(idx)
        return out, used
