"""SPADE / GauGAN (Park et al., CVPR 2019): label map -> photo, multimodal through a VAE image encoder.

The generator (munit.nets.spade) decodes a code z drawn from the encoder's posterior of the real photo,
modulated everywhere by the label map. Losses, as the authors' NVlabs/SPADE code: hinge GAN on a
multi-scale spectral-norm PatchGAN that judges (label map, image) pairs, averaged over its scales;
discriminator feature matching (`feat_w`, their lambda_feat 10); KL of the posterior, summed over the
batch and the code (`recon_kl_w`, their lambda_kld 0.05); VGG19 perceptual loss (`vgg_w`, their
lambda_vgg 10; torchvision's VGG19 weights in `vgg_model_path`, images fed in [-1, 1] as theirs). TTUR
settings live in the config (G 1e-4, D 4e-4, betas 0 and 0.9), as their initialisation (xavier, gain 0.02).

Differs from the authors' code: the VAE encoder is always on (theirs is optional; without it the
generator starts from the downsampled label map and gives one output per input); batch norm without
cross-device synchronisation; the encoder reads references at the training crop size (theirs at 256 px).
"""

from __future__ import annotations

import torch
from torch import nn

from munit.config import ConfigError
from munit.losses import gen_adv_loss
from munit.methods.base import GeneratorPass, Method, Term, other_methods_keys, weighted_total
from munit.methods.paired import EncodedLatent
from munit.nets.blocks import init_weights
from munit.nets.spade import UPSAMPLINGS, MultiscaleDis, SPADEEncoder, SPADEGenerator, feature_matching
from munit.nets.vgg import load_vgg19, vgg19_loss

INIT_GAIN = 0.02  # The authors' init_variance for xavier.


class VGG19Loss:
    """Mixin: pix2pixHD's and SPADE's VGG19 perceptual loss of the output against the photo (`vgg_w`),
    its network loaded for training only."""

    vgg: nn.Module | None = None

    def setup_training(self, device: torch.device) -> None:
        if self.cfg.vgg_w > 0:
            self.vgg = load_vgg19(self.cfg.vgg_model_path).to(device)

    def to(self, device: torch.device):
        if self.vgg is not None:
            self.vgg.to(device)
        return self

    def vgg_terms(self, fake: torch.Tensor, x_b: torch.Tensor) -> dict[str, Term]:
        return {"vgg": Term(self.cfg.vgg_w, vgg19_loss(self.vgg, fake, x_b))} if self.cfg.vgg_w > 0 else {}


class SPADEMethod(EncodedLatent, VGG19Loss, Method):
    name = "spade"
    multimodal = True
    reference_guided = True
    directions = ("a2b",)
    paired = True
    fixed_size = True
    takes_labels = True
    generator_names = ("gen", "enc")
    discriminator_names = ("dis",)
    adversarial_terms = {"dis": "adv"}
    reconstruction_terms = ("fm",)
    unused_keys = ("recon_x_w", "recon_s_w", "recon_c_w", "recon_x_cyc_w", "recon_kl_cyc_w", "identity_w",
                   "pool_size", "unit_share_weights", "init", "gen.activ", "gen.n_res", "gen.n_downsample",
                   "gen.mlp_dim", "gen.pad_type", "dis.norm", "dis.activ", "dis.pad_type",
                   *other_methods_keys("gen.norm", "feat_w"))

    @classmethod
    def check_config(cls, cfg) -> None:
        multiple = 2 ** UPSAMPLINGS
        if cfg.crop_image_height % multiple or cfg.crop_image_width % multiple:
            raise ConfigError(f"crop_image_height/crop_image_width are {cfg.crop_image_height}/"
                              f"{cfg.crop_image_width}; SPADE's generator upsamples {UPSAMPLINGS} times, so both "
                              f"must be multiples of {multiple}")
        if cfg.crop_image_height != cfg.crop_image_width:
            raise ConfigError("SPADE's image encoder takes square crops; set crop_image_height = crop_image_width")
        if cfg.gen.norm not in ("bn", "in"):
            raise ConfigError(f"'gen.norm' is {cfg.gen.norm!r}; SPADE modulates a parameter-free bn or in")

    @classmethod
    def min_image_size(cls, cfg) -> int:
        return 2 ** UPSAMPLINGS

    @property
    def dis_loss_scale(self) -> float:
        return 1 / self.cfg.dis.num_scales  # Their GAN losses average over the scales.

    def build_networks(self) -> nn.ModuleDict:
        cfg, g, d = self.cfg, self.cfg.gen, self.cfg.dis
        size = cfg.crop_image_height
        nets = nn.ModuleDict({
            "gen": SPADEGenerator(cfg.channels("a"), cfg.input_dim_b, size, cfg.crop_image_width, g.dim,
                                  g.style_dim, g.norm),
            "enc": SPADEEncoder(cfg.input_dim_b, size, g.dim, g.style_dim),
            "dis": MultiscaleDis(cfg.channels("a") + cfg.input_dim_b, d.dim, d.n_layer, d.num_scales),
        })
        init_weights(nets, "xavier", gain=INIT_GAIN)
        return nets

    def _posterior(self, nets, x_b):
        mu, logvar = nets["enc"](x_b)
        return mu, logvar, mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def reals(self, x_a, x_b):
        return {"dis": torch.cat([x_a, x_b], 1)}  # The discriminator judges (label map, image) pairs.

    def dis_fakes(self, nets, x_a, x_b):
        *_, z = self._posterior(nets, x_b)
        return {"dis": torch.cat([x_a, nets["gen"](x_a, z)], 1)}

    def generator_pass(self, nets, x_a, x_b):
        mu, logvar, z = self._posterior(nets, x_b)
        fake = nets["gen"](x_a, z)
        kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())
        terms = {"recon_kl": Term(self.cfg.recon_kl_w, kl), **self.vgg_terms(fake, x_b)}
        return GeneratorPass(terms, {"dis": torch.cat([x_a, fake], 1)},
                             lambda: self.dis_fakes(nets, x_a, x_b), reals=self.reals(x_a, x_b))

    def generator_loss(self, nets, gen_pass):
        """Adversarial (averaged over scales) and feature-matching terms of the one discriminator."""
        terms, dis = dict(gen_pass.terms), nets["dis"]
        fake = dis.features(self.augment(gen_pass.fakes["dis"]))
        real = dis.features(self.augment(gen_pass.reals["dis"]))
        terms["adv"] = Term(self.cfg.gan_w * self.dis_loss_scale,
                            gen_adv_loss([layers[-1] for layers in fake], self.cfg.dis.gan_type))
        terms["fm"] = Term(self.cfg.feat_w, feature_matching(fake, real))
        return weighted_total(terms)
