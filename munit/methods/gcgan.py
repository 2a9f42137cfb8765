"""GcGAN (Fu, Gong, Wang, Batmanghelich, Zhang, Tao, CVPR 2019): one-sided translation A -> B kept
faithful by geometry consistency instead of a second generator and a cycle.

One generator G translates both x and f(x), where f rotates by 90 degrees (`gc_transform: rot`, square
crops) or flips upside down (`vflip`). Two discriminators judge G(x) against real B images and G(f(x))
against f of real B images. The geometry-consistency loss pulls G(x) towards f^-1(G(f(x))) and G(f(x))
towards f(G(x)), each target detached (L1, weight `gc_w`); an identity loss asks G to leave B images, and
their f, unchanged (`identity_w`). Defaults of the authors' code (hufu6371/GcGAN, gc_gan_share_model.py
with its train options): lambda_AB 10 x lambda_gc 2 = gc_w 20, identity 0.5 x 10 = identity_w 5 (their
Cityscapes script uses 0.3 x 10 = 3), LSGAN, pools of 50 fakes, each discriminator's loss halved, lr 2e-4,
beta1 0.5, CycleGAN's ResNet generator and PatchGAN discriminators.
"""

from __future__ import annotations

import torch
from torch import nn

from munit.config import ConfigError
from munit.losses import recon_loss
from munit.methods.base import GeneratorPass, Method, Term, other_methods_keys
from munit.methods.cyclegan import ImagePool, load_pools, pools_state
from munit.nets.baselines import PatchDis, ResnetGenerator


def transform(x: torch.Tensor, kind: str) -> torch.Tensor:
    """f: a quarter turn (the authors' rot90: transpose, then reverse the columns) or an upside-down flip."""
    return x.transpose(2, 3).flip(3) if kind == "rot" else x.flip(2)


def inverse(x: torch.Tensor, kind: str) -> torch.Tensor:
    """f^-1."""
    return x.transpose(2, 3).flip(2) if kind == "rot" else x.flip(2)


class GcGAN(Method):
    name = "gcgan"
    directions = ("a2b",)
    generator_names = ("gen",)
    discriminator_names = ("dis", "dis_gc")
    adversarial_terms = {"dis": "adv", "dis_gc": "adv_gc"}
    dis_loss_scale = 0.5
    reconstruction_terms = ("identity", "gc")
    unused_keys = ("recon_x_w", "recon_s_w", "recon_c_w", "recon_x_cyc_w", "recon_kl_w", "recon_kl_cyc_w", "vgg_w",
                   "unit_share_weights", "gen.activ", "gen.mlp_dim", "gen.style_dim",
                   "dis.activ", "dis.num_scales", "dis.pad_type", *other_methods_keys("gc_w", "gc_transform"))

    def __init__(self, cfg):
        super().__init__(cfg)
        self.pools = {name: ImagePool(cfg.pool_size) for name in self.discriminator_names}

    @classmethod
    def check_config(cls, cfg) -> None:
        if cfg.gc_transform == "rot" and cfg.crop_image_height != cfg.crop_image_width:
            raise ConfigError(f"gc_transform is 'rot' but the crop is {cfg.crop_image_height}x{cfg.crop_image_width}; "
                              "a quarter turn needs square crops (or set gc_transform: vflip)")
        if cfg.identity_w > 0 and cfg.input_dim_a != cfg.input_dim_b:
            raise ConfigError(f"identity_w is {cfg.identity_w}; the identity loss needs input_dim_a == input_dim_b "
                              f"(got {cfg.input_dim_a} and {cfg.input_dim_b}); set identity_w: 0")

    @classmethod
    def min_image_size(cls, cfg) -> int:
        return 3 * 2 ** cfg.dis.n_layer  # As CycleGAN's PatchGAN.

    def build_networks(self) -> nn.ModuleDict:
        cfg, g, d = self.cfg, self.cfg.gen, self.cfg.dis
        return self.init_networks(nn.ModuleDict({
            "gen": ResnetGenerator(cfg.input_dim_a, cfg.input_dim_b, g.dim, g.n_downsample, g.n_res, g.pad_type),
            "dis": PatchDis(cfg.input_dim_b, d.dim, d.n_layer, d.norm),
            "dis_gc": PatchDis(cfg.input_dim_b, d.dim, d.n_layer, d.norm),
        }))

    def f(self, x: torch.Tensor) -> torch.Tensor:
        return transform(x, self.cfg.gc_transform)

    def reals(self, x_a, x_b):
        return {"dis": x_b, "dis_gc": self.f(x_b)}

    def dis_fakes(self, nets, x_a, x_b):
        return {"dis": nets["gen"](x_a), "dis_gc": nets["gen"](self.f(x_a))}

    def discriminator_loss(self, nets, x_a, x_b, fakes, joint=False):
        """The discriminators judge fakes drawn through their pools of past fakes."""
        fakes = {name: self.pools[name].query(fake) for name, fake in fakes.items()}
        return super().discriminator_loss(nets, x_a, x_b, fakes, joint)

    def generator_pass(self, nets, x_a, x_b):
        cfg, gen, kind = self.cfg, nets["gen"], self.cfg.gc_transform
        fake, fake_gc = gen(x_a), gen(self.f(x_a))
        terms = {"gc": Term(cfg.gc_w, recon_loss(fake, inverse(fake_gc, kind).detach())
                            + recon_loss(fake_gc, transform(fake, kind).detach()))}
        if cfg.identity_w > 0:
            x_b_gc = self.f(x_b)
            terms["identity"] = Term(cfg.identity_w, recon_loss(gen(x_b), x_b))
            terms["identity_gc"] = Term(cfg.identity_w, recon_loss(gen(x_b_gc), x_b_gc))
        return GeneratorPass(terms, {"dis": fake, "dis_gc": fake_gc})

    def translate(self, nets, x, direction, style=None):
        self.direction(direction)
        return nets["gen"](x)

    def sample_columns(self, nets, x, refs, direction, styles):
        y = nets["gen"](x)
        turned = inverse(nets["gen"](self.f(x)), self.cfg.gc_transform)  # Equal to y once G is consistent.
        return [("input", x), ("translation", y), ("f^-1(G(f(x)))", turned)]

    def state_dict(self) -> dict:
        return pools_state(self.pools)

    def load_state_dict(self, state: dict) -> None:
        load_pools(self.pools, state)
