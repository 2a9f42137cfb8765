"""CUT and FastCUT (Park, Efros, Zhang, Zhu, ECCV 2020): one-sided translation A -> B kept faithful by
contrast instead of a cycle.

One generator (CycleGAN's ResNet with antialiased sampling) and one PatchGAN. PatchNCE: the features of the
output at a few generator layers (`nce_layers`, numbered as the official generator's layers: 0, 4, 8, 12,
16 for its 9 blocks), `nce_patches` positions per layer, each projected by a two-layer head of `nce_dim`
channels (`PatchSampler`), must match the input's features at the same position against the other
positions of the same image (temperature `nce_t`); the term is the mean over layers, weighted by `nce_w`.
CUT adds the same loss between B images and G(B) (`nce_idt`), averaged with the main term; FastCUT drops
it, weighs NCE by 10 and flips the input half the time (`flip_equivariance`), comparing the output's
patches flipped back.

Defaults of the authors' code (taesungp/contrastive-unpaired-translation, cut_model.py and its options):
LSGAN, no image pool, D's loss halved, Adam lr 2e-4, betas (0.5, 0.999) for G, D and the heads, linear
decay, Xavier-normal init with gain 0.02 for every network. The heads exist from the start here (the
authors create them on the first batch, once the layer widths are known): they are a network like the
others in checkpoints, resume and EMA, trained by the generator optimiser (the authors' separate Adam has
the same settings, and Adam's update is per parameter).
"""

from __future__ import annotations

import torch
from torch import nn

from munit.config import ConfigError
from munit.losses import patch_nce_loss
from munit.methods.base import GeneratorPass, Method, Term, other_methods_keys
from munit.nets.baselines import PatchDis, PatchSampler, ResnetGenerator
from munit.nets.blocks import init_weights


def nce_layers(cfg) -> tuple[int, ...]:
    """`nce_layers` ("0,4,8,12,16", or "auto") as a sorted tuple of layer numbers; ConfigError when it is
    not one or names a layer the generator does not have."""
    g = cfg.gen
    if cfg.nce_layers == "auto":  # Input; each downsampling conv (4 layers apart); first and middle block.
        blocks = 4 + 4 * g.n_downsample
        return tuple(sorted({0, *range(4, blocks, 4), *((blocks, blocks + g.n_res // 2) if g.n_res else ())}))
    try:
        layers = tuple(sorted({int(v) for v in cfg.nce_layers.split(",")}))
    except ValueError:
        raise ConfigError(f"'nce_layers' is {cfg.nce_layers!r}; expected comma-separated layer numbers, "
                          "e.g. 0,4,8,12,16") from None
    # Official layer list: pad, conv, norm, relu; per downsampling conv, norm, relu, blur; the blocks; per
    # upsampling blur, conv, norm, relu; pad, conv, tanh.
    count = 7 + 8 * g.n_downsample + g.n_res
    if not layers or layers[0] < 0 or layers[-1] >= count:
        raise ConfigError(f"'nce_layers' is {cfg.nce_layers!r}; this generator (gen.n_downsample "
                          f"{g.n_downsample}, gen.n_res {g.n_res}) has layers 0 to {count - 1}")
    return layers


class CUT(Method):
    name = "cut"
    directions = ("a2b",)
    generator_names = ("gen", "patch_f")
    discriminator_names = ("dis",)
    adversarial_terms = {"dis": "adv"}
    dis_loss_scale = 0.5
    reconstruction_terms = ("nce",)
    reconstruction_fall = 0.05  # A contrastive loss falls from log(patches + 1) slowly: 9-20% in 40 iterations.
    unused_keys = ("recon_x_w", "recon_s_w", "recon_c_w", "recon_x_cyc_w", "recon_kl_w", "recon_kl_cyc_w", "vgg_w",
                   "identity_w", "pool_size", "unit_share_weights", "init", "gen.activ", "gen.mlp_dim",
                   "gen.style_dim", "dis.activ", "dis.num_scales", "dis.pad_type",
                   *other_methods_keys("nce_w", "nce_idt", "nce_layers", "nce_patches", "nce_dim", "nce_t",
                                       "flip_equivariance"))

    def __init__(self, cfg):
        super().__init__(cfg)
        self.layers = nce_layers(cfg)
        self._flip_at: tuple[int, bool] | None = None

    @classmethod
    def check_config(cls, cfg) -> None:
        nce_layers(cfg)
        if cfg.nce_idt and cfg.input_dim_a != cfg.input_dim_b:
            raise ConfigError(f"nce_idt is on; the identity term translates B images, which needs input_dim_a == "
                              f"input_dim_b (got {cfg.input_dim_a} and {cfg.input_dim_b}); set nce_idt: false")

    @classmethod
    def min_image_size(cls, cfg) -> int:
        return 3 * 2 ** cfg.dis.n_layer

    def build_networks(self) -> nn.ModuleDict:
        cfg, g, d = self.cfg, self.cfg.gen, self.cfg.dis
        gen = ResnetGenerator(cfg.input_dim_a, cfg.input_dim_b, g.dim, g.n_downsample, g.n_res, g.pad_type,
                              antialias=True)
        with torch.no_grad():  # The widths of the contrasted layers, for the heads.
            side = 2 ** (g.n_downsample + 2)
            widths = [f.shape[1] for f in gen.features(torch.zeros(1, cfg.input_dim_a, side, side), self.layers)]
        nets = nn.ModuleDict({"gen": gen, "patch_f": PatchSampler(widths, cfg.nce_dim),
                              "dis": PatchDis(cfg.input_dim_b, d.dim, d.n_layer, d.norm)})
        for net in nets.values():  # The authors' init_type xavier, init_gain 0.02 (no transposed convs here).
            init_weights(net, "xavier", gain=0.02)
        return nets

    def _flipped(self) -> bool:
        """Whether this iteration's inputs are flipped (FastCUT), drawn once per iteration so that the
        discriminator's fakes (exact mode) and the generator's pass agree, as in the authors' single pass."""
        if self._flip_at is None or self._flip_at[0] != self.iteration:
            self._flip_at = (self.iteration, bool(self.cfg.flip_equivariance and torch.rand(()) < 0.5))
        return self._flip_at[1]

    def reals(self, x_a, x_b):
        return {"dis": x_b}

    def dis_fakes(self, nets, x_a, x_b):
        return {"dis": nets["gen"](x_a.flip(3) if self._flipped() else x_a)}

    def generator_pass(self, nets, x_a, x_b):
        cfg, flipped, n = self.cfg, self._flipped(), x_a.shape[0]
        real = torch.cat([x_a, x_b]) if cfg.nce_idt else x_a  # One call: instance norm keeps images apart.
        fake = nets["gen"](real.flip(3) if flipped else real)
        if cfg.nce_idt:
            weight = 0.5 * cfg.nce_w  # The two terms are averaged.
            terms = {"nce": Term(weight, self.nce(nets, x_a, fake[:n], flipped)),
                     "nce_idt": Term(weight, self.nce(nets, x_b, fake[n:], flipped))}
        else:
            terms = {"nce": Term(cfg.nce_w, self.nce(nets, x_a, fake, flipped))}
        return GeneratorPass(terms, {"dis": fake[:n]})

    def nce(self, nets, source: torch.Tensor, output: torch.Tensor, flipped: bool = False) -> torch.Tensor:
        """PatchNCE between an input and its translation, mean over the layers (`flipped`: the output was
        made from the flipped input, so its features are flipped back)."""
        gen, heads, cfg = nets["gen"], nets["patch_f"], self.cfg
        queries = gen.features(output, self.layers)
        if flipped:
            queries = [q.flip(3) for q in queries]
        with torch.no_grad():  # The keys are targets (the authors detach them): no graph needed.
            keys, ids = heads(gen.features(source, self.layers), cfg.nce_patches)
        queries, _ = heads(queries, cfg.nce_patches, ids)
        losses = [patch_nce_loss(q, k, source.shape[0], cfg.nce_t).mean() for q, k in zip(queries, keys, strict=True)]
        return sum(losses) / len(losses)

    def translate(self, nets, x, direction, style=None):
        self.direction(direction)
        return nets["gen"](x)

    def sample_columns(self, nets, x, refs, direction, styles):
        return [("input", x), ("translation", nets["gen"](x))]
