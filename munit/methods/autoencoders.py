"""What MUNIT and UNIT share: an auto-encoder per domain, NVlabs/MUNIT's multi-scale discriminators
and the optional domain-invariant perceptual loss."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from munit.methods.base import SINGLE_METHOD_KEYS, Method, Term
from munit.nets.discriminator import MsImageDis
from munit.nets.vgg import load_vgg16, perceptual_loss


class AutoEncoderMethod(Method):
    generator_class: type[nn.Module]  # Built as generator_class(input channels, **cfg.gen).

    def __init__(self, cfg):
        super().__init__(cfg)
        self.vgg: nn.Module | None = None  # Loaded by `setup_training`: inference never needs VGG weights.

    @classmethod
    def min_image_size(cls, cfg) -> int:
        """Each 4x4 stride-2 conv needs 2 px of input at every discriminator scale; the style encoder's four
        stride-2 convs need 16 px."""
        return max(16, 2 ** cfg.dis.n_layer * 2 ** (cfg.dis.num_scales - 1))

    def build_networks(self) -> nn.ModuleDict:
        return self.init_networks(self.networks())

    def networks(self) -> nn.ModuleDict:
        """The networks, not yet initialised."""
        cfg = self.cfg
        dis_kwargs = {k: v for k, v in dataclasses.asdict(cfg.dis).items() if k != "gan_type"}
        gen_kwargs = {k: v for k, v in dataclasses.asdict(cfg.gen).items()
                      if f"gen.{k}" not in SINGLE_METHOD_KEYS}  # Other methods' gen keys (the U-Net's norm...).
        nets = nn.ModuleDict({
            "gen_a": self.generator_class(cfg.input_dim_a, **gen_kwargs),
            "gen_b": self.generator_class(cfg.input_dim_b, **gen_kwargs),
            "dis_a": MsImageDis(cfg.input_dim_a, **dis_kwargs),
            "dis_b": MsImageDis(cfg.input_dim_b, **dis_kwargs),
        })
        self.share_weights(nets)
        return nets

    def share_weights(self, nets: nn.ModuleDict) -> None:
        """Tie layers of the two generators, where the method's paper does."""

    def add_perceptual_terms(self, terms: dict[str, Term], x_ba: torch.Tensor, x_b: torch.Tensor,
                             x_ab: torch.Tensor, x_a: torch.Tensor) -> None:
        """Domain-invariant perceptual loss of each translation against its source image, if vgg_w > 0."""
        if self.cfg.vgg_w > 0:
            terms["vgg_a"] = Term(self.cfg.vgg_w, perceptual_loss(self.vgg, x_ba, x_b))
            terms["vgg_b"] = Term(self.cfg.vgg_w, perceptual_loss(self.vgg, x_ab, x_a))

    def setup_training(self, device: torch.device) -> None:
        if self.cfg.vgg_w > 0:
            self.vgg = load_vgg16(self.cfg.vgg_model_path).to(device)

    def to(self, device: torch.device) -> AutoEncoderMethod:
        if self.vgg is not None:
            self.vgg.to(device)
        return self
