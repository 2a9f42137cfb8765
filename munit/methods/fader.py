"""Fader networks (Lample, Zeghidour, Usunier, Bordes, Denoyer, Ranzato, NeurIPS 2017): an auto-encoder whose
decoder is told the image's attributes, and a latent discriminator that tries to read the attributes from the
encoder's latent; the encoder learns to hide them (the discriminator's loss on flipped attributes), so the
decoder must take them from its attribute input, and sliding that input at test time edits the attribute.

Attributes are either the domains of the many-domain layout (munit.data.domains): one categorical attribute
with a value per domain, one-hot (on the built-in data: the five hue modes); or the binary attributes of a
labels file (`attributes_file`, munit.data.attributes), each one-hot over its two values, as the official code
encodes CelebA's. At test time each domain or attribute is a slider in [0, 1] (`Translator.edit`): a domain's
slider is its one-hot entry (mixtures slide between domains), a binary attribute's slider a gives the code
(1 - a, a).

Losses as the official code: mean squared reconstruction error (`recon_x_w`, its lambda_ae 1), the latent
discriminator's cross-entropy on the true attribute, and the auto-encoder's cross-entropy of the
discriminator on a random other value (`lat_dis_w`, 1e-4, reached linearly over `lat_dis_schedule`
iterations). The official latent discriminator step encodes with the auto-encoder in eval mode (batch norm's
running statistics): so does exact mode here; fast mode reuses the training pass's latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from munit.config import Config, ConfigError
from munit.errors import UsageError
from munit.methods.base import GeneratorPass, Method, Term, detached, other_methods_keys, weighted_total
from munit.nets.fader import Decoder, Encoder, LatentDiscriminator


@dataclass
class FaderPass(GeneratorPass):
    flipped: torch.Tensor | None = None  # The attribute the encoder should make the discriminator read.


class Fader(Method):
    name = "fader"
    multi_domain = True
    reference_batches = False
    generator_names = ("enc", "dec")
    discriminator_names = ("lat_dis",)
    adversarial_terms = {"lat_dis": "adv_latent"}
    reconstruction_terms = ("recon_x",)
    unused_keys = ("recon_s_w", "recon_c_w", "recon_x_cyc_w", "vgg_w", "recon_kl_w", "recon_kl_cyc_w",
                   "unit_share_weights", "identity_w", "pool_size", "ms_w", "diffaug", "gen.style_dim", "gen.n_res",
                   "gen.activ", "gen.pad_type", "dis.norm", "dis.activ", "dis.n_layer", "dis.gan_type",
                   "dis.num_scales", "dis.pad_type", "dis.dim",
                   *other_methods_keys("lat_dis_w", "lat_dis_schedule", "lat_dis_dropout"))

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        if cfg.batch_size < 2:
            raise ConfigError(f"'batch_size' is {cfg.batch_size}; Fader networks need at least 2 (the latent "
                              "discriminator's last layer normalises a 1 x 1 map over the batch; the paper used 32)")

    @classmethod
    def min_image_size(cls, cfg: Config) -> int:
        return 2 ** (cfg.gen.n_downsample + 1)  # At least a 2 x 2 latent for the discriminator's conv.

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.binary = cfg.attributes_file is not None
        # The attribute groups' value counts: one categorical attribute over the domains, or two values each.
        self.groups = [2] * len(self.domains) if self.binary else [len(self.domains)]

    def build_networks(self) -> nn.ModuleDict:
        cfg, k = self.cfg, sum(self.groups)
        args = (cfg.gen.dim, 16 * cfg.gen.dim, cfg.gen.n_downsample)
        nets = nn.ModuleDict({
            "enc": Encoder(cfg.input_dim_a, *args),
            "dec": Decoder(cfg.input_dim_a, *args, k),
            "lat_dis": LatentDiscriminator(*args, min(cfg.crop_image_height, cfg.crop_image_width), k,
                                           cfg.gen.mlp_dim, cfg.lat_dis_dropout),
        })
        return self.init_networks(nets)

    def init_networks(self, nets: nn.ModuleDict) -> nn.ModuleDict:
        return nets  # PyTorch's default initialisation, as the official code.

    def attribute_values(self, y: torch.Tensor) -> torch.Tensor:
        """A batch's attribute values (N, groups): the binary attributes, or the domain as one column."""
        return y if self.binary else y[:, None]

    def code(self, y: torch.Tensor) -> torch.Tensor:
        """The decoder's attribute code (N, sum(groups)) of values (N, groups): each group one-hot."""
        return torch.cat([F.one_hot(y[:, g], n) for g, n in enumerate(self.groups)], dim=1).float()

    def attribute_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of each group's logits against its value, summed over groups (the official code)."""
        groups = logits.split(self.groups, dim=1)
        return sum(F.cross_entropy(out, y[:, g]) for g, out in enumerate(groups))

    def dis_fakes(self, nets: nn.ModuleDict, x_a, x_b) -> dict[str, torch.Tensor]:
        enc = nets["enc"]
        enc.eval()
        try:
            with torch.no_grad():
                return {"lat_dis": enc(x_a[0])}
        finally:
            enc.train()

    def discriminator_loss(self, nets, x_a, x_b, fakes, joint=False):
        loss = self.attribute_loss(nets["lat_dis"](fakes["lat_dis"]), self.attribute_values(x_a[1]))
        return loss, detached({"attribute": loss}, loss)

    def generator_pass(self, nets: nn.ModuleDict, x_a, x_b) -> FaderPass:
        x, y = x_a[0], self.attribute_values(x_a[1])
        z = nets["enc"](x)
        x_rec = nets["dec"](z, self.code(y))
        if self.binary:
            flipped = 1 - y
        else:  # A random other value.
            flipped = (y + torch.randint(1, self.groups[0], y.shape, device=y.device)) % self.groups[0]
        return FaderPass({"recon_x": Term(self.cfg.recon_x_w, F.mse_loss(x_rec, x))}, {"lat_dis": z},
                         flipped=flipped)

    def lat_dis_weight(self) -> float:
        """lambda_lat_dis now: lat_dis_w reached linearly over lat_dis_schedule iterations."""
        return self.cfg.lat_dis_w * min(self.iteration, self.cfg.lat_dis_schedule) / self.cfg.lat_dis_schedule

    def generator_loss(self, nets: nn.ModuleDict, gen_pass: FaderPass) -> tuple[torch.Tensor, dict]:
        """The encoder is pushed against the latent discriminator in eval mode (no dropout, running batch-norm
        statistics), as the official `autoencoder_step` calls `lat_dis.eval()`: a thinned-out critic gives a
        noisier push, and its statistics would follow the encoder's batch. It stays in eval mode through the
        backward that follows (activation checkpointing recomputes it there, and must see the same mode); the
        trainer sets every network back to train mode at the start of each step."""
        lat_dis = nets["lat_dis"]
        lat_dis.eval()
        fooled = self.attribute_loss(lat_dis(gen_pass.fakes["lat_dis"]), gen_pass.flipped)
        return weighted_total({**gen_pass.terms, "adv_latent": Term(self.lat_dis_weight(), fooled)})

    # Inference: sliders (N, domains), one per domain or binary attribute, drive the decoder.
    def attributes(self, values: dict[str, float], n: int, device: torch.device) -> torch.Tensor:
        """The sliders (n, domains) of `values` by domain or attribute name; unnamed ones are 0 (a binary
        attribute's 0: without it)."""
        unknown = sorted(set(values) - set(self.domains))
        if unknown:
            raise UsageError(f"method {self.name!r} has the attributes {', '.join(self.domains)}; "
                             f"not {', '.join(unknown)}")
        row = torch.tensor([float(values.get(d, 0.0)) for d in self.domains], device=device)
        return row.expand(n, -1)

    def slider_code(self, sliders: torch.Tensor) -> torch.Tensor:
        """The decoder's code of sliders (N, domains): themselves for domains, (1 - a, a) per binary attribute."""
        return torch.stack([1 - sliders, sliders], dim=2).flatten(1) if self.binary else sliders

    def edit(self, nets: nn.ModuleDict, x: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """Images x decoded with sliders `attributes` (N, domains), each in [0, 1] (1: the domain or attribute,
        0: not)."""
        return nets["dec"](nets["enc"](x), self.slider_code(attributes))

    def translate(self, nets: nn.ModuleDict, x: torch.Tensor, direction: str,
                  style: torch.Tensor | None = None) -> torch.Tensor:
        target = self.direction(direction).target
        return self.edit(nets, x, self.attributes({target: 1.0}, len(x), x.device))

    def sample_columns(self, nets, x, refs, direction, styles):
        """Input, then the target domain's slider at 0.25, 0.5, 0.75 and 1 (the rest at 0)."""
        target = self.direction(direction).target
        columns = [("input", x)]
        for value in (0.25, 0.5, 0.75, 1.0):
            columns.append((f"{target} {value:g}", self.edit(nets, x, self.attributes({target: value}, len(x),
                                                                                       x.device))))
        return columns

    def export_graphs(self, nets: nn.ModuleDict) -> dict[str, tuple[nn.Module, tuple[str, ...]]]:
        """One graph: the auto-encoder with an attribute input (N, domains), in the config's domain order."""
        return {"edit": (_Edit(self, nets), ("image_a", "attributes"))}


class _Edit(nn.Module):
    def __init__(self, method: Fader, nets: nn.ModuleDict):
        super().__init__()
        self.method, self.nets = method, nets

    def forward(self, image: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        return self.method.edit(self.nets, image, attributes)
