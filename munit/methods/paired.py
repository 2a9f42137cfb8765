"""The supervised baselines, trained on aligned pairs (A_i, B_i), translating A -> B only.

pix2pix (Isola et al., CVPR 2017): U-Net generator, conditional PatchGAN on (A, B), L1 to the ground
truth (`recon_x_w`, 100 in the paper). BicycleGAN (Zhu et al., NeurIPS 2017): the U-Net also takes an
8-d latent z (`gen.style_dim`); cVAE-GAN: z encoded from the ground truth B, L1 to B (`recon_x_w`, 10)
and KL to N(0, I) (`recon_kl_w`, 0.01); cLR-GAN: z drawn from N(0, I), recovered by the encoder from the
output (`recon_s_w`, 0.5; this term trains the generator only). Each cycle has its own PatchGAN. As the
official code, a batch of two or more is split: its first half goes through both cycles, its second
half's B images are the real images of the cLR-GAN's discriminator; G has no dropout.

Differs from the official code: z may scale and shift G's normalised up levels (`gen.where_add: norm`,
the shipped config's) instead of being concatenated (`input`, `all`); the encoder is strided convs
without norm (theirs a ResNet with instance norm) and starts with He init; one PatchGAN per cycle (theirs
two scales). See docs/results.md for what each choice did.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from munit.config import ConfigError
from munit.errors import UsageError
from munit.losses import mode_seeking_loss, recon_loss
from munit.methods.base import GeneratorPass, Method, Term, other_methods_keys
from munit.nets.baselines import LatentEncoder, PatchDis, UnetGenerator
from munit.nets.blocks import batch_statistics, init_weights


class _PairedMethod(Method):
    directions = ("a2b",)
    paired = True
    fixed_size = True
    takes_labels = True
    discriminator_names = ("dis",)
    adversarial_terms = {"dis": "adv"}
    unused_keys = ("recon_c_w", "recon_x_cyc_w", "recon_kl_cyc_w", "vgg_w", "identity_w", "pool_size", "gen.activ",
                   "gen.n_res", "gen.n_downsample", "gen.mlp_dim", "gen.pad_type", "dis.activ", "dis.num_scales",
                   "dis.pad_type", "unit_share_weights")

    def __init__(self, cfg):
        super().__init__(cfg)
        self.check_config(cfg)
        self.levels = int(math.log2(cfg.crop_image_height))

    @classmethod
    def check_config(cls, cfg) -> None:
        side = min(cfg.crop_image_height, cfg.crop_image_width)
        if cfg.crop_image_height != cfg.crop_image_width or side & (side - 1):
            raise ConfigError(f"crop_image_height/crop_image_width are {cfg.crop_image_height}/"
                              f"{cfg.crop_image_width}; method {cfg.method} (a U-Net down to 1x1) needs square "
                              "crops whose side is a power of 2")

    @classmethod
    def min_image_size(cls, cfg) -> int:
        return max(16, 3 * 2 ** cfg.dis.n_layer)

    def inference_size(self, width: int, height: int, domain: str) -> tuple[int, int]:
        """The U-Net goes down to 1x1: inputs are resized to the training crop, whatever their shape."""
        return self.cfg.crop_image_width, self.cfg.crop_image_height

class Pix2Pix(_PairedMethod):
    name = "pix2pix"
    generator_names = ("gen",)
    dis_loss_scale = 0.5  # pix2pix halves D's objective to slow it down relative to G.
    unused_keys = _PairedMethod.unused_keys + ("recon_s_w", "recon_kl_w", "gen.style_dim",
                                               *other_methods_keys("test_noise", "gen.norm"))

    def build_networks(self) -> nn.ModuleDict:
        cfg = self.cfg
        return self.init_networks(nn.ModuleDict({
            "gen": UnetGenerator(cfg.channels("a"), cfg.input_dim_b, self.levels, cfg.gen.dim, norm=cfg.gen.norm),
            "dis": PatchDis(cfg.channels("a") + cfg.input_dim_b, cfg.dis.dim, cfg.dis.n_layer, cfg.dis.norm),
        }))

    def dis_fakes(self, nets, x_a, x_b):
        return {"dis": torch.cat([x_a, nets["gen"](x_a)], 1)}

    def reals(self, x_a, x_b):
        return {"dis": torch.cat([x_a, x_b], 1)}  # The discriminator judges (input, output) pairs.

    def generator_pass(self, nets, x_a, x_b):
        fake = nets["gen"](x_a)
        return GeneratorPass({"recon_x": Term(self.cfg.recon_x_w, recon_loss(fake, x_b))},
                             {"dis": torch.cat([x_a, fake], 1)})

    def translate(self, nets, x, direction, style=None):
        self.direction(direction)
        if not self.cfg.test_noise or torch.jit.is_tracing():  # Exported graphs are the eval-mode network.
            return nets["gen"](x)
        with batch_statistics(nets["gen"]):
            return nets["gen"](x)

    def sample_columns(self, nets, x, refs, direction, styles):
        return [("input", self.display(x, "a")), ("translation", nets["gen"](x))]


class EncodedLatent:
    """Translation, reference encoding and sample grids of a paired method whose generator `gen` takes
    (A image, latent z) and whose encoder `enc` gives (mu, logvar) of z from a B image: BicycleGAN, SPADE."""

    def encode_style(self, nets, x, domain):
        if domain != "b":
            raise UsageError(f"method {self.name!r} encodes the style of B images only")
        return nets["enc"](x)[0][:, :, None, None]

    def translate(self, nets, x, direction, style=None):
        self.direction(direction)
        if style is None:
            style = self.random_styles(x.shape[0], x.device)
        return nets["gen"](x, style.flatten(1))

    def sample_columns(self, nets, x, refs, direction, styles):
        n = x.shape[0]
        columns = [("input", self.display(x, "a"))]
        columns += [("random styles", nets["gen"](x, s.flatten().expand(n, -1))) for s in styles]
        columns += [("reference-guided", nets["gen"](x, z.expand(n, -1))) for z in nets["enc"](refs)[0]]
        return columns


class BicycleGAN(EncodedLatent, _PairedMethod):
    name = "bicyclegan"
    multimodal = True
    reference_guided = True
    generator_names = ("gen", "enc")
    discriminator_names = ("dis_vae", "dis_lr")  # One per cycle: cVAE-GAN's and cLR-GAN's fakes.
    adversarial_terms = {"dis_vae": "adv_vae", "dis_lr": "adv_lr"}
    unused_keys = _PairedMethod.unused_keys + other_methods_keys("gen.norm", "gen.where_add", "gen.mod_levels")

    @classmethod
    def check_config(cls, cfg) -> None:
        super().check_config(cfg)
        up_levels = int(math.log2(cfg.crop_image_height)) - 1  # The normalised ones.
        if cfg.gen.mod_levels > up_levels:
            raise ConfigError(f"'gen.mod_levels' is {cfg.gen.mod_levels}; expected 0 (all) to {up_levels}, the "
                              f"U-Net's normalised up levels at {cfg.crop_image_height} px")

    def build_networks(self) -> nn.ModuleDict:
        cfg, nz = self.cfg, self.cfg.gen.style_dim
        return self.init_networks(nn.ModuleDict({
            "gen": UnetGenerator(cfg.channels("a"), cfg.input_dim_b, self.levels, cfg.gen.dim, latent_dim=nz,
                                 dropout=False, norm=cfg.gen.norm, where_add=cfg.gen.where_add,
                                 mod_levels=cfg.gen.mod_levels),
            "enc": LatentEncoder(cfg.input_dim_b, nz, cfg.gen.dim, n_downsample=min(4, self.levels - 1)),
            "dis_vae": PatchDis(cfg.input_dim_b, cfg.dis.dim, cfg.dis.n_layer, cfg.dis.norm),
            "dis_lr": PatchDis(cfg.input_dim_b, cfg.dis.dim, cfg.dis.n_layer, cfg.dis.norm),
        }))

    def init_networks(self, nets: nn.ModuleDict) -> nn.ModuleDict:
        """As the other methods, but E gets He init whatever `init` is: without a norm, N(0, 0.02) weights
        give every image the same code at the start (spread 1e-4 over test images), and G learns to ignore
        a code that carries nothing; and G's modulation layers keep PyTorch's default (see `reset_modulation`)."""
        nets = super().init_networks(nets)
        init_weights(nets["enc"], "kaiming")
        nets["gen"].reset_modulation()
        return nets

    def _latents(self, nets, x_b):
        """The encoder's posterior of x_b, a sample of it, and a sample of the prior."""
        mu, logvar = nets["enc"](x_b)
        return mu, logvar, mu + torch.randn_like(mu) * torch.exp(0.5 * logvar), torch.randn_like(mu)

    @staticmethod
    def _split(x_a, x_b):
        """The official batch split: the first half's pairs go through both cycles, the second half's B
        images are the real images of cLR-GAN's discriminator; a batch of one serves both."""
        half = len(x_a) // 2
        return (x_a, x_b, x_b) if half == 0 else (x_a[:half], x_b[:half], x_b[half:])

    def reals(self, x_a, x_b):
        _, b_encoded, b_random = self._split(x_a, x_b)
        return {"dis_vae": b_encoded, "dis_lr": b_random}

    def dis_fakes(self, nets, x_a, x_b):
        x_a, x_b, _ = self._split(x_a, x_b)
        *_, z_encoded, z_random = self._latents(nets, x_b)
        return {"dis_vae": nets["gen"](x_a, z_encoded), "dis_lr": nets["gen"](x_a, z_random)}

    def generator_pass(self, nets, x_a, x_b):
        cfg = self.cfg
        batch = (x_a, x_b)
        x_a, x_b, _ = self._split(x_a, x_b)
        mu, logvar, z_encoded, z_random = self._latents(nets, x_b)
        fake_encoded, fake_random = nets["gen"](x_a, z_encoded), nets["gen"](x_a, z_random)
        nets["enc"].requires_grad_(False)  # The latent regression trains the generator only.
        mu_recovered, _ = nets["enc"](fake_random)
        nets["enc"].requires_grad_(True)
        terms = {
            "recon_x": Term(cfg.recon_x_w, recon_loss(fake_encoded, x_b)),
            "recon_kl": Term(cfg.recon_kl_w, torch.mean(-0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1))),
            "recon_s": Term(cfg.recon_s_w, recon_loss(mu_recovered, z_random)),  # The latent code recovered.
        }
        if cfg.ms_w > 0:  # Mode seeking on the cLR-GAN cycle, as MSGAN does for BicycleGAN.
            z_other = torch.randn_like(z_random)
            terms["ms"] = Term(cfg.ms_w, mode_seeking_loss(fake_random, nets["gen"](x_a, z_other), z_random, z_other))
        return GeneratorPass(terms, {"dis_vae": fake_encoded, "dis_lr": fake_random},
                             lambda: self.dis_fakes(nets, *batch))  # Latents of their own for D.
