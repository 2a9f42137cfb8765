"""DiscoGAN (Kim, Cha, Kim, Lee, Kim, ICML 2017): two encoder-decoder generators and two discriminators,
trained with GAN, feature-matching and reconstruction losses of both cycles.

Defaults of the authors' code (SKTBrain/DiscoGAN, discogan/image_translation.py): each generator's loss is
(0.1 x GAN + 0.9 x feature matching) x (1 - rate) + reconstruction (MSE) x rate, with rate 0.01 for the
first `gan_curriculum` (10,000) iterations and 0.5 after; each discriminator's loss is the mean of its
cross-entropies on reals and fakes; Adam lr 2e-4, betas (0.5, 0.999), weight decay 1e-5; 64 px images.
Differences: the discriminator and the generators are both updated every iteration (the authors' loop
updates D on one iteration in three and G on the other two), images are in [-1, 1] (tanh, not sigmoid),
and the discriminators output logits (cross-entropy computed with the sigmoid folded in, the same loss).
"""

from __future__ import annotations

import torch
from torch import nn

from munit.config import ConfigError
from munit.losses import gen_adv_loss
from munit.methods.base import GeneratorPass, Method, Term, other_methods_keys, weighted_total
from munit.nets.blocks import batch_statistics
from munit.nets.dcgan import DiscoDiscriminator, DiscoGenerator

GAN_SHARE, FEATURE_SHARE = 0.1, 0.9  # Of the adversarial part of each generator's loss.
STARTING_RATE, DEFAULT_RATE = 0.01, 0.5  # Reconstruction's share during and after the GAN curriculum.


def feature_matching_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean squared difference of the batch-mean activations of reals and fakes."""
    return sum(torch.mean((r.mean(0) - f.mean(0)) ** 2) for r, f in zip(real, fake, strict=True))


class DiscoGAN(Method):
    name = "discogan"
    generator_names = ("gen_ab", "gen_ba")
    dis_loss_scale = 0.5
    dis_batch_norm = True  # Whatever dis.norm says: the authors' discriminators.
    unused_keys = ("recon_x_w", "recon_s_w", "recon_c_w", "recon_x_cyc_w", "recon_kl_w", "recon_kl_cyc_w", "vgg_w",
                   "identity_w", "pool_size", "unit_share_weights", "init",
                   "gen.style_dim", "gen.n_res", "gen.mlp_dim", "gen.activ", "gen.pad_type", "dis.norm", "dis.activ",
                   "dis.n_layer", "dis.num_scales", "dis.pad_type", *other_methods_keys("gan_curriculum"))

    @classmethod
    def check_config(cls, cfg) -> None:
        if cfg.gen.n_downsample < 1:
            raise ConfigError(f"'gen.n_downsample' is {cfg.gen.n_downsample}; DiscoGAN's generator needs at "
                              "least 1 downsampling (4 in the paper)")

    @classmethod
    def min_image_size(cls, cfg) -> int:
        return max(16, 2 ** cfg.gen.n_downsample)  # The discriminator's four stride-2 convs.

    def build_networks(self) -> nn.ModuleDict:
        cfg, g, d = self.cfg, self.cfg.gen, self.cfg.dis
        size = min(cfg.crop_image_height, cfg.crop_image_width)
        # PyTorch's default initialisation, as the authors' code (it initialises nothing itself).
        return nn.ModuleDict({
            "gen_ab": DiscoGenerator(cfg.input_dim_a, cfg.input_dim_b, g.dim, g.n_downsample),
            "gen_ba": DiscoGenerator(cfg.input_dim_b, cfg.input_dim_a, g.dim, g.n_downsample),
            "dis_a": DiscoDiscriminator(cfg.input_dim_a, d.dim, size),
            "dis_b": DiscoDiscriminator(cfg.input_dim_b, d.dim, size),
        })

    def rate(self) -> float:
        return STARTING_RATE if self.iteration < self.cfg.gan_curriculum else DEFAULT_RATE

    def dis_fakes(self, nets, x_a, x_b):
        return {"dis_a": nets["gen_ba"](x_b), "dis_b": nets["gen_ab"](x_a)}

    def generator_pass(self, nets, x_a, x_b):
        fake_b, fake_a = nets["gen_ab"](x_a), nets["gen_ba"](x_b)
        rate = self.rate()
        # The cycle's fakes are normalised by their own batch's statistics, as in the authors' code, but leave
        # the running statistics to real inputs, which is what a generator meets at test time (averaged over
        # both, they normalised test images by a mixture of reals and half-trained fakes).
        with batch_statistics(nets["gen_ba"]), batch_statistics(nets["gen_ab"]):
            cycle_a, cycle_b = nets["gen_ba"](fake_b), nets["gen_ab"](fake_a)
        terms = {"cyc_x_a": Term(rate, torch.mean((cycle_a - x_a) ** 2)),
                 "cyc_x_b": Term(rate, torch.mean((cycle_b - x_b) ** 2))}
        return GeneratorPass(terms, {"dis_a": fake_a, "dis_b": fake_b}, reals={"dis_a": x_a, "dis_b": x_b})

    def generator_loss(self, nets, gen_pass):
        """Each discriminator's adversarial and feature-matching terms, weighted by the curriculum."""
        terms, adversarial = dict(gen_pass.terms), 1 - self.rate()
        for name, fake in gen_pass.fakes.items():
            logits, fake_features = nets[name].features(self.augment(fake))
            _, real_features = nets[name].features(self.augment(gen_pass.reals[name]))
            terms[self.adversarial_terms[name]] = Term(self.cfg.gan_w * GAN_SHARE * adversarial,
                                                       gen_adv_loss([logits], self.cfg.dis.gan_type))
            terms[f"fm_{name[-1]}"] = Term(FEATURE_SHARE * adversarial,
                                           feature_matching_loss(real_features, fake_features))
        return weighted_total(terms)

    def translate(self, nets, x, direction, style=None):
        direction = self.direction(direction)
        return nets["gen_ab" if direction == "a2b" else "gen_ba"](x)

    def sample_columns(self, nets, x, refs, direction, styles):
        forward, back = ("gen_ab", "gen_ba") if direction == "a2b" else ("gen_ba", "gen_ab")
        y = nets[forward](x)
        return [("input", x), ("translation", y), ("cycle", nets[back](y))]
