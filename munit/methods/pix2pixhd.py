"""pix2pixHD (Wang et al., CVPR 2018): label map (or image) -> photo at high resolution, one output per
input; the facts come from the authors' NVIDIA/pix2pixHD code.

Networks: the global generator G1, or with `n_local_enhancers: 1` the local enhancer G2 around a G1 twice
as wide (munit.nets.pix2pixhd); `dis.num_scales` (2) PatchGANs of `dis.n_layer` (3) layers with instance
norm on (label map, image) pairs. Losses: LSGAN summed over the scales, the discriminators' loss halved;
feature matching `feat_w` (10) x 4 / (n_layer + 1) per layer, averaged over scales; the VGG19 perceptual
loss (`vgg_w`, their 10; torchvision's VGG19 weights in `vgg_model_path`).

Coarse to fine, as the paper: train G1 alone (a run with `n_local_enhancers: 0`, at half the final
size), then a run with `n_local_enhancers: 1` whose G1 starts from it (`global_from`: that run or
checkpoint) and stays fixed for `niter_fix_global` iterations while the enhancer learns.

Not yet: the instance-wise feature encoder for style control at test time.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from munit.config import ConfigError
from munit.losses import gen_adv_loss
from munit.methods.base import GeneratorPass, Method, Term, other_methods_keys, weighted_total
from munit.methods.spade import VGG19Loss
from munit.nets.pix2pixhd import LocalEnhancer, global_generator
from munit.nets.spade import MultiscaleDis, feature_matching


class Pix2PixHD(VGG19Loss, Method):
    name = "pix2pixhd"
    directions = ("a2b",)
    paired = True
    takes_labels = True
    generator_names = ("gen",)
    discriminator_names = ("dis",)
    adversarial_terms = {"dis": "adv"}
    dis_loss_scale = 0.5
    reconstruction_terms = ("fm",)
    unused_keys = ("recon_x_w", "recon_s_w", "recon_c_w", "recon_x_cyc_w", "recon_kl_w", "recon_kl_cyc_w",
                   "identity_w", "pool_size", "unit_share_weights", "gen.activ", "gen.mlp_dim",
                   "gen.pad_type", "gen.style_dim", "dis.norm", "dis.activ", "dis.pad_type",
                   *other_methods_keys("feat_w", "n_local_enhancers", "niter_fix_global", "global_from"))

    @classmethod
    def check_config(cls, cfg) -> None:
        multiple = 2 ** (cfg.gen.n_downsample + cfg.n_local_enhancers)
        for key in ("crop_image_height", "crop_image_width"):
            if getattr(cfg, key) % multiple:
                raise ConfigError(f"{key!r} is {getattr(cfg, key)}; pix2pixHD's generator halves the image "
                                  f"{cfg.gen.n_downsample + cfg.n_local_enhancers} times, so it must be a "
                                  f"multiple of {multiple}")
        if cfg.n_local_enhancers not in (0, 1):
            raise ConfigError(f"'n_local_enhancers' is {cfg.n_local_enhancers}; munit builds 0 (the global "
                              "generator) or 1 (one local enhancer, the paper's 2048 x 1024 network)")
        if cfg.global_from and not cfg.n_local_enhancers:
            raise ConfigError("global_from starts a local enhancer's global generator; set n_local_enhancers: 1")

    @classmethod
    def min_image_size(cls, cfg) -> int:
        return 16

    def size_multiple(self) -> int:
        return 2 ** (self.cfg.gen.n_downsample + self.cfg.n_local_enhancers)  # The enhancer halves once more.

    def build_networks(self) -> nn.ModuleDict:
        cfg, g, d = self.cfg, self.cfg.gen, self.cfg.dis
        gen = (LocalEnhancer(cfg.channels("a"), cfg.input_dim_b, g.dim, g.n_downsample, g.n_res)
               if cfg.n_local_enhancers else
               global_generator(cfg.channels("a"), cfg.input_dim_b, g.dim, g.n_downsample, g.n_res))
        dis = MultiscaleDis(cfg.channels("a") + cfg.input_dim_b, d.dim, d.n_layer, d.num_scales, spectral=False)
        return self.init_networks(nn.ModuleDict({"gen": gen, "dis": dis}))

    def start_networks(self, nets: nn.ModuleDict, read_checkpoint: Callable[[str], dict]) -> None:
        if self.cfg.global_from:
            state = read_checkpoint(self.cfg.global_from)
            if state["config"].get("method") != self.name or state["config"].get("n_local_enhancers"):
                raise ConfigError(f"global_from: {self.cfg.global_from} is not a run of pix2pixhd's global "
                                  "generator (n_local_enhancers: 0)")
            saved, g = state["config"].get("gen", {}), self.cfg.gen
            wanted = {"dim": 2 * g.dim, "n_downsample": g.n_downsample, "n_res": g.n_res}
            wrong = {k: saved.get(k) for k, v in wanted.items() if saved.get(k) != v}
            if wrong:
                raise ConfigError(f"global_from: {self.cfg.global_from} has gen {wrong}; this local enhancer needs "
                                  f"its G1 with {wanted} (the local run's gen.dim is half the global run's)")
            nets["gen"].load_global(state["nets"]["gen"])

    def _generator(self, nets: nn.ModuleDict) -> nn.Module:
        gen = nets["gen"]
        if self.cfg.n_local_enhancers:  # G1 fixed while the enhancer catches up (niter_fix_global).
            gen.global_net.requires_grad_(self.iteration >= self.cfg.niter_fix_global)
        return gen

    def reals(self, x_a, x_b):
        return {"dis": torch.cat([x_a, x_b], 1)}

    def dis_fakes(self, nets, x_a, x_b):
        return {"dis": torch.cat([x_a, nets["gen"](x_a)], 1)}

    def generator_pass(self, nets, x_a, x_b):
        fake = self._generator(nets)(x_a)
        return GeneratorPass(self.vgg_terms(fake, x_b), {"dis": torch.cat([x_a, fake], 1)}, reals=self.reals(x_a, x_b))

    def generator_loss(self, nets, gen_pass):
        """LSGAN over the scales and feature matching weighted 4 / (n_layer + 1) per layer, as the authors."""
        terms, dis = dict(gen_pass.terms), nets["dis"]
        fake = dis.features(self.augment(gen_pass.fakes["dis"]))
        real = dis.features(self.augment(gen_pass.reals["dis"]))
        terms["adv"] = Term(self.cfg.gan_w, gen_adv_loss([layers[-1] for layers in fake], self.cfg.dis.gan_type))
        terms["fm"] = Term(self.cfg.feat_w * 4 / (self.cfg.dis.n_layer + 1), feature_matching(fake, real))
        return weighted_total(terms)

    def translate(self, nets, x, direction, style=None):
        self.direction(direction)
        return nets["gen"](x)

    def sample_columns(self, nets, x, refs, direction, styles):
        return [("input", self.display(x, "a")), ("translation", nets["gen"](x))]
