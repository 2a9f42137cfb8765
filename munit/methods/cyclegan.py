"""CycleGAN (Zhu et al., ICCV 2017) and CycleGAN with noise, the MUNIT paper's multimodal baseline.

Generators translate one way each (gen_ab: A -> B, gen_ba: B -> A); LSGAN losses (`dis.gan_type`), cycle loss
(`recon_x_cyc_w`, 10 in the paper), identity loss (`identity_w`, 0.5 x 10), and a pool of 50 past fakes
for the discriminators (`pool_size`). The noise variant feeds a per-image Gaussian vector of
`gen.style_dim` values to U-Net generators as extra input channels, as the MUNIT paper's baseline does, so
one input can give many outputs (in the paper this baseline mostly ignores its noise, which its diversity
score shows).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from munit.config import ConfigError
from munit.losses import code_recovery_loss, mode_seeking_loss, recon_loss
from munit.methods.base import SINGLE_METHOD_KEYS, GeneratorPass, Method, Term
from munit.nets.baselines import CodeHead, PatchDis, ResnetGenerator, UnetGenerator


class ImagePool:
    """Shrivastava et al.'s history of generated images: once full, each new fake is swapped, with
    probability 1/2, for a stored one, which the discriminator sees instead."""

    def __init__(self, size: int):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i])
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)


def pools_state(pools: dict[str, ImagePool]) -> dict[str, torch.Tensor]:
    """The pools' images for a checkpoint, one stacked tensor per pool ("pool_<name>")."""
    return {f"pool_{name}": torch.stack(p.images) if p.images else torch.empty(0) for name, p in pools.items()}


def load_pools(pools: dict[str, ImagePool], state: dict) -> None:
    for name, pool in pools.items():
        stored = state.get(f"pool_{name}")
        pool.images = list(stored) if stored is not None and stored.numel() else []


class CycleGAN(Method):
    name = "cyclegan"
    generator_names = ("gen_ab", "gen_ba")
    unused_keys = ("recon_x_w", "recon_s_w", "recon_c_w", "recon_kl_w", "recon_kl_cyc_w", "vgg_w", "gen.activ",
                   "gen.mlp_dim", "dis.activ", "dis.num_scales", "dis.pad_type", "unit_share_weights",
                   *SINGLE_METHOD_KEYS)
    noise_dim = 0
    dis_loss_scale = 0.5  # The paper halves D's objective to slow it down relative to G.

    def __init__(self, cfg):
        super().__init__(cfg)
        self.check_config(cfg)
        self.pools = {d: ImagePool(cfg.pool_size) for d in "ab"}

    @classmethod
    def check_config(cls, cfg) -> None:
        if cfg.identity_w > 0 and cfg.input_dim_a != cfg.input_dim_b:
            raise ConfigError(f"identity_w is {cfg.identity_w}; the identity loss needs input_dim_a == input_dim_b "
                              f"(got {cfg.input_dim_a} and {cfg.input_dim_b}); set identity_w: 0")

    @classmethod
    def min_image_size(cls, cfg) -> int:
        return 3 * 2 ** cfg.dis.n_layer  # The PatchGAN's two stride-1 4x4 convs need 3 px after downsampling.

    def build_networks(self) -> nn.ModuleDict:
        cfg, d = self.cfg, self.cfg.dis
        nets = nn.ModuleDict({
            "gen_ab": self.generator(cfg.input_dim_a, cfg.input_dim_b),
            "gen_ba": self.generator(cfg.input_dim_b, cfg.input_dim_a),
            "dis_a": PatchDis(cfg.input_dim_a, d.dim, d.n_layer, d.norm),
            "dis_b": PatchDis(cfg.input_dim_b, d.dim, d.n_layer, d.norm),
            **self.code_heads(),
        })
        return self.init_networks(nets)

    def generator(self, in_dim: int, out_dim: int) -> nn.Module:
        g = self.cfg.gen
        return ResnetGenerator(in_dim, out_dim, g.dim, g.n_downsample, g.n_res, g.pad_type)

    def code_heads(self) -> dict[str, nn.Module]:
        """Networks that recover a translation's code (CycleGAN + noise with info_w); none here."""
        return {}

    def _noise(self, x: torch.Tensor) -> torch.Tensor | None:
        return torch.randn(x.shape[0], self.noise_dim, device=x.device) if self.noise_dim else None

    def dis_fakes(self, nets, x_a, x_b):
        return {"dis_a": nets["gen_ba"](x_b, self._noise(x_b)), "dis_b": nets["gen_ab"](x_a, self._noise(x_a))}

    def discriminator_loss(self, nets, x_a, x_b, fakes, joint=False):
        """The discriminators judge fakes drawn through their pools of past fakes."""
        fakes = {name: self.pools[name[-1]].query(fake) for name, fake in fakes.items()}
        return super().discriminator_loss(nets, x_a, x_b, fakes, joint)

    def generator_pass(self, nets, x_a, x_b):
        cfg = self.cfg
        g_ab, g_ba = nets["gen_ab"], nets["gen_ba"]
        noise_b = self._noise(x_a)
        fake_b = g_ab(x_a, noise_b)
        noise_a = self._noise(x_b)
        fake_a = g_ba(x_b, noise_a)
        terms = {
            "cyc_x_a": Term(cfg.recon_x_cyc_w, recon_loss(g_ba(fake_b, self._noise(fake_b)), x_a)),
            "cyc_x_b": Term(cfg.recon_x_cyc_w, recon_loss(g_ab(fake_a, self._noise(fake_a)), x_b)),
        }
        if cfg.identity_w > 0:
            terms["identity_a"] = Term(cfg.identity_w, recon_loss(g_ba(x_a, self._noise(x_a)), x_a))
            terms["identity_b"] = Term(cfg.identity_w, recon_loss(g_ab(x_b, self._noise(x_b)), x_b))
        if self.noise_dim and cfg.ms_w > 0:  # Mode seeking: a second noise per translation.
            noise_a2, noise_b2 = self._noise(x_b), self._noise(x_a)
            terms["ms_a"] = Term(cfg.ms_w, mode_seeking_loss(fake_a, g_ba(x_b, noise_a2), noise_a, noise_a2))
            terms["ms_b"] = Term(cfg.ms_w, mode_seeking_loss(fake_b, g_ab(x_a, noise_b2), noise_b, noise_b2))
        if self.noise_dim and cfg.info_w > 0:  # InfoGAN: each translation's code, recovered in its domain.
            for domain, fake, code in (("a", fake_a, noise_a), ("b", fake_b, noise_b)):
                terms[f"info_{domain}"] = Term(cfg.info_w, code_recovery_loss(nets[f"info_{domain}"](fake), code,
                                                                              cfg.info_categories))
        redraw = (lambda: self.dis_fakes(nets, x_a, x_b)) if self.noise_dim else None  # Fresh noise for D.
        return GeneratorPass(terms, {"dis_a": fake_a, "dis_b": fake_b}, redraw)

    def translate(self, nets, x, direction, style=None):
        direction = self.direction(direction)
        if self.noise_dim and style is None:
            style = self.random_styles(x.shape[0], x.device)
        return nets["gen_ab" if direction == "a2b" else "gen_ba"](x, style)

    def sample_columns(self, nets, x, refs, direction, styles):
        forward, back = ("gen_ab", "gen_ba") if direction == "a2b" else ("gen_ba", "gen_ab")
        n = x.shape[0]
        if not self.noise_dim:
            y = nets[forward](x)
            return [("input", x), ("translation", y), ("cycle", nets[back](y))]
        ys = [nets[forward](x, s.flatten().expand(n, -1)) for s in styles]
        return [("input", x), ("cycle", nets[back](ys[0], self._noise(x)))] + [("random noise", y) for y in ys]

    def state_dict(self) -> dict:
        return pools_state(self.pools)

    def load_state_dict(self, state: dict) -> None:
        load_pools(self.pools, state)


class CycleGANNoise(CycleGAN):
    """CycleGAN with a noise code, the MUNIT paper's baseline; with `info_w`, InfoGAN's code term: a head per
    domain (`info_a`, `info_b`, trained with the generators) must recover each translation's code, so that
    the generators cannot ignore it. InfoGAN shares Q's layers with the discriminator; here it is a small
    network of its own (munit.nets.baselines.CodeHead)."""

    name = "cyclegan_noise"
    multimodal = True
    fixed_size = True  # Its U-Nets go down to 1x1.
    unused_keys = (*(k for k in CycleGAN.unused_keys if k not in ("info_w", "info_categories")),
                   "gen.n_downsample", "gen.n_res", "gen.pad_type")

    def __init__(self, cfg):
        super().__init__(cfg)
        self.noise_dim = cfg.gen.style_dim
        if cfg.info_w > 0:
            self.generator_names = ("gen_ab", "gen_ba", "info_a", "info_b")

    @classmethod
    def check_config(cls, cfg) -> None:
        super().check_config(cfg)
        side = min(cfg.crop_image_height, cfg.crop_image_width)
        if cfg.crop_image_height != cfg.crop_image_width or side & (side - 1):
            raise ConfigError(f"crop is {cfg.crop_image_height}x{cfg.crop_image_width}; {cls.name}'s U-Net goes "
                              "down to 1x1 and needs square crops whose side is a power of 2")
        if cfg.info_categories == 1 or cfg.info_categories > cfg.gen.style_dim:
            raise ConfigError(f"'info_categories' is {cfg.info_categories}; a categorical code needs 2 to "
                              f"gen.style_dim ({cfg.gen.style_dim}) values, or 0 for none")

    def inference_size(self, width: int, height: int, domain: str) -> tuple[int, int]:
        """The U-Net goes down to 1x1: inputs are resized to the training crop, whatever their shape."""
        return self.cfg.crop_image_width, self.cfg.crop_image_height

    def generator(self, in_dim: int, out_dim: int) -> nn.Module:
        """The MUNIT paper's generator for this baseline: a U-Net with the noise added to its input (section
        5.2: "the noise vectors are ignored by the residual architecture in CycleGAN"). In the residual
        generator they are not only ignored but erased: a broadcast code is a constant channel, which the
        reflect-padded first conv turns into a constant per channel and the instance norm after it
        subtracts. The U-Net's first conv has no norm and its skip connection carries the code to the
        output."""
        levels = int(math.log2(self.cfg.crop_image_height))
        return UnetGenerator(in_dim, out_dim, levels, self.cfg.gen.dim, latent_dim=self.noise_dim, dropout=False,
                             where_add="input")

    def code_heads(self) -> dict[str, nn.Module]:
        if self.cfg.info_w == 0:
            return {}
        g, side = self.cfg.gen, min(self.cfg.crop_image_height, self.cfg.crop_image_width)
        levels = min(4, int(math.log2(side)) - 1)
        return {f"info_{d}": CodeHead(self.cfg.input_dim(d), g.style_dim, g.dim, levels) for d in "ab"}

    def random_styles(self, n, device, generator=None):
        """N(0, I) codes whose first `info_categories` entries, if any, are a uniformly drawn one-hot value."""
        codes = super().random_styles(n, device, generator)
        k = self.cfg.info_categories
        if k:
            picks = torch.randint(k, (n,), device=device, generator=generator)
            codes[:, :k] = F.one_hot(picks, k).to(codes.dtype).view(n, k, 1, 1)
        return codes

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        return self.random_styles(x.shape[0], x.device).flatten(1)
