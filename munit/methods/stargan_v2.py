"""StarGAN v2 (Choi et al., CVPR 2020): one generator translates into any of many domains, guided by a style
code that a mapping network makes from a random code (latent-guided) or a style encoder reads from a
reference image (reference-guided); one discriminator and one style encoder, each with a head per domain.

Losses as the paper and the official code: non-saturating adversarial loss with R1 on real images (r1_w),
style reconstruction (recon_s_w), diversity-sensitive loss subtracted with a weight decayed linearly to 0
(ds_w over ds_iter), cycle consistency with the source's own style (recon_x_cyc_w).

The official iteration takes four optimiser steps: D latent-guided, D reference-guided, G latent-guided
(which also trains the mapping network and the style encoder), G reference-guided (the generator only). Here
an iteration is one D step and one G step, so iterations alternate: even ones latent-guided, odd ones
reference-guided; two iterations make one official iteration, each Adam step with the official loss.
Batches (munit.data.domains): x_a = (x, y) sources and their domains, x_b = (x_ref, x_ref2, y_trg, z, z2)
two references of the target domain and two random codes; the D and G steps of an iteration use the same
codes and references, as the official ones do.

Known differences: the official EMA copies are made before He init, so they start from PyTorch's default
initialisation; here they start as copies of the networks (both wash out over the EMA's horizon). No
face-mask high-pass path (w_hpf; see munit.nets.stargan_v2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from munit.config import Config, ConfigError
from munit.errors import UsageError
from munit.losses import recon_loss
from munit.methods.base import GeneratorPass, Method, Term, detached, other_methods_keys, weighted_total
from munit.nets.blocks import init_weights
from munit.nets.stargan_v2 import Discriminator, Generator, MappingNetwork, StyleEncoder

GUIDANCE = ("latent", "reference")


@dataclass
class DomainPass(GeneratorPass):
    y_trg: torch.Tensor | None = None  # The domain each fake is judged as.


class StarGANv2(Method):
    name = "stargan_v2"
    multimodal = True
    reference_guided = True
    multi_domain = True
    generator_names = ("generator", "mapping", "style_encoder")
    discriminator_names = ("dis",)
    adversarial_terms = {"dis": "adv"}
    reconstruction_terms = ("cyc_x",)
    unused_keys = ("recon_x_w", "recon_c_w", "vgg_w", "recon_kl_w", "recon_kl_cyc_w", "unit_share_weights",
                   "identity_w", "pool_size", "ms_w", "gen.n_res", "gen.activ", "gen.pad_type", "dis.norm",
                   "dis.activ", "dis.n_layer", "dis.gan_type", "dis.num_scales", "dis.pad_type",
                   *other_methods_keys("r1_w", "ds_w", "ds_iter", "lr_mapping", "gen.latent_dim"))

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        if cfg.crop_image_height != cfg.crop_image_width:
            raise ConfigError(f"'crop_image_width' is {cfg.crop_image_width}; StarGAN v2's discriminator and style "
                              f"encoder take square images, expected crop_image_height ({cfg.crop_image_height})")

    @classmethod
    def min_image_size(cls, cfg: Config) -> int:
        return max(8, 2 ** cfg.gen.n_downsample)

    def build_networks(self) -> nn.ModuleDict:
        cfg, k = self.cfg, len(self.domains)
        size, channels = cfg.crop_image_height, cfg.input_dim_a
        nets = nn.ModuleDict({
            "generator": Generator(channels, cfg.gen.dim, cfg.gen.n_downsample, cfg.gen.style_dim),
            "mapping": MappingNetwork(cfg.gen.latent_dim, cfg.gen.style_dim, cfg.gen.mlp_dim, k),
            "style_encoder": StyleEncoder(channels, cfg.gen.dim, size, cfg.gen.style_dim, k),
            "dis": Discriminator(channels, cfg.dis.dim, size, k),
        })
        for net in nets.values():  # He init for every network, as the official solver.
            init_weights(net, "kaiming")
        return nets

    def network_lr(self, name: str, lr: float) -> float:
        return self.cfg.lr_mapping if name == "mapping" else lr

    @property
    def guidance(self) -> str:
        return GUIDANCE[self.iteration % 2]

    def domain_index(self, domain: str, n: int, device: torch.device) -> torch.Tensor:
        return torch.full((n,), self.domains.index(self.direction(domain).target), dtype=torch.long, device=device)

    def target_styles(self, nets: nn.ModuleDict, x_b) -> tuple[torch.Tensor, torch.Tensor]:
        """The two style codes of the target domain this iteration's guidance gives."""
        x_ref, x_ref2, y_trg, z, z2 = x_b
        if self.guidance == "latent":
            return nets["mapping"](z, y_trg), nets["mapping"](z2, y_trg)
        return nets["style_encoder"](x_ref, y_trg), nets["style_encoder"](x_ref2, y_trg)

    def dis_fakes(self, nets: nn.ModuleDict, x_a, x_b) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {"dis": nets["generator"](x_a[0], self.target_styles(nets, x_b)[0])}

    def generator_pass(self, nets: nn.ModuleDict, x_a, x_b) -> DomainPass:
        x, y = x_a
        y_trg = x_b[2]
        encoder = nets["style_encoder"]
        frozen = self.guidance == "reference"  # The official reference step trains the generator only.
        encoder.requires_grad_(not frozen)
        try:
            s_trg, s_trg2 = self.target_styles(nets, x_b)
            x_fake = nets["generator"](x, s_trg)
            style = recon_loss(encoder(x_fake, y_trg), s_trg)
            x_fake2 = nets["generator"](x, s_trg2).detach()
            diversity = recon_loss(x_fake, x_fake2)
            x_rec = nets["generator"](x_fake, encoder(x, y))
        finally:
            encoder.requires_grad_(True)
        terms = {"recon_s": Term(self.cfg.recon_s_w, style), "ds": Term(-self.ds_weight(), diversity),
                 "cyc_x": Term(self.cfg.recon_x_cyc_w, recon_loss(x_rec, x))}
        return DomainPass(terms, {"dis": x_fake}, y_trg=y_trg)

    def ds_weight(self) -> float:
        """lambda_ds now: ds_w decayed linearly to 0 at ds_iter iterations."""
        return self.cfg.ds_w * max(0.0, 1.0 - self.iteration / self.cfg.ds_iter)

    def discriminator_loss(self, nets: nn.ModuleDict, x_a, x_b, fakes: dict[str, torch.Tensor],
                           joint: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, y = x_a
        x = x.detach().requires_grad_(True)
        out_real = nets["dis"](self.augment(x), y)
        (grad,) = torch.autograd.grad(out_real.sum(), x, create_graph=True)
        r1 = 0.5 * grad.pow(2).flatten(1).sum(1).mean()
        out_fake = nets["dis"](self.augment(fakes["dis"]), x_b[2])
        real = F.binary_cross_entropy_with_logits(out_real, torch.ones_like(out_real))
        fake = F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
        total = self.cfg.gan_w * (real + fake) + self.cfg.r1_w * r1
        return total, detached({"real": real, "fake": fake, "r1": r1}, total)

    def generator_loss(self, nets: nn.ModuleDict, gen_pass: DomainPass) -> tuple[torch.Tensor, dict]:
        out = nets["dis"](self.augment(gen_pass.fakes["dis"]), gen_pass.y_trg)
        adv = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        return weighted_total({"adv": Term(self.cfg.gan_w, adv), **gen_pass.terms})

    # Inference: the style code (N, style_dim, 1, 1) of a target domain drives the generator.
    def random_styles(self, n: int, device: torch.device, generator: torch.Generator | None = None
                      ) -> torch.Tensor:
        """n random codes (n, latent_dim, 1, 1) from N(0, I): the mapping network's inputs, not style codes."""
        return torch.randn(n, self.cfg.gen.latent_dim, 1, 1, device=device, generator=generator)

    def styles(self, nets, n, device, generator=None, references=None, domain=None):
        """Style codes of the target `domain`: of `references` when given, else the mapping network's codes of
        n random draws (drawn on the CPU with `generator`)."""
        if domain is None:
            raise UsageError(f"method {self.name!r} needs the target domain of its style codes "
                             f"({', '.join(self.domains)})")
        if references is not None:
            return super().styles(nets, n, device, generator, references, domain)
        z = self.random_styles(n, torch.device("cpu"), generator).to(device)
        return self.map_codes(nets, z, domain)

    def map_codes(self, nets: nn.ModuleDict, z: torch.Tensor, domain: str) -> torch.Tensor:
        y = self.domain_index(domain, len(z), z.device)
        return nets["mapping"](z.flatten(1), y)[:, :, None, None]

    def encode_style(self, nets: nn.ModuleDict, x: torch.Tensor, domain: str) -> torch.Tensor:
        y = self.domain_index(domain, len(x), x.device)
        return nets["style_encoder"](x, y)[:, :, None, None]

    def translate(self, nets: nn.ModuleDict, x: torch.Tensor, direction: str,
                  style: torch.Tensor | None = None) -> torch.Tensor:
        target = self.direction(direction).target
        if style is None:
            style = self.map_codes(nets, self.random_styles(len(x), x.device), target)
        return nets["generator"](x, style.flatten(1)).clamp(-1, 1)

    def sample_columns(self, nets, x, refs, direction, styles):
        """Input, then one column per random code in `styles` (prior draws), then one per reference."""
        target = self.direction(direction).target
        columns = [("input", x)]
        if len(styles):
            for j, s in enumerate(self.map_codes(nets, styles, target)):
                columns.append((f"random {j + 1}", self.translate(nets, x, target, s.expand(len(x), -1, -1, -1))))
        for j, s in enumerate(self.encode_style(nets, refs, target)):
            columns.append((f"ref {j + 1}", self.translate(nets, x, target, s.expand(len(x), -1, -1, -1))))
        return columns

    def export_graphs(self, nets: nn.ModuleDict) -> dict[str, tuple[nn.Module, tuple[str, ...]]]:
        """One graph: the generator with a style code (N, style_dim) of any domain (`Translator.encode_style`
        or the mapping network give them)."""
        return {"translate": (_Generator(nets["generator"]), ("image_a", "style"))}


class _Generator(nn.Module):
    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.generator(image, style).clamp(-1, 1)
