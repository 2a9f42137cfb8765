"""pix2pixHD (Wang et al., CVPR 2018): label map (or image) -> photo at high resolution, one output per
input; the facts come from the authors' NVIDIA/pix2pixHD code.

Networks: the global generator G1, or with `n_local_enhancers: 1` the local enhancer G2 around a G1 twice
as wide (munit.nets.pix2pixhd); `dis.num_scales` (2) PatchGANs with instance norm on (label map, image)
pairs, `dis.n_layer` counted as SPADE's code counts them (4: three stride-2 convs, the authors'
`n_layers_D 3`). Losses: LSGAN summed over the scales, the discriminators' loss halved; feature matching
`feat_w` (10) x 4 / (n_layers_D + 1) = 4 / n_layer per layer, averaged over scales; the VGG19 perceptual
loss (`vgg_w`, their 10; torchvision's VGG19 weights in `vgg_model_path`).

Coarse to fine, as the paper: train G1 alone (a run with `n_local_enhancers: 0`, at half the final
size), then a run with `n_local_enhancers: 1` whose G1 starts from it (`global_from`: that run or
checkpoint) and stays fixed for `niter_fix_global` iterations while the enhancer learns.

With `feat_num` (the paper's 3): the feature encoder E reads the photo, its output is averaged over each
class region of the label map (the authors' `label_feat`; their `instance_feat` averages over each object of
an instance map, which munit does not carry past the data loader) and given to G beside the label map; E
learns with G, by G's losses only. At each snapshot, the per-class means of the training photos are
clustered (K-means, `n_clusters` per class, as their precompute_feature_maps.py); at test time a style is
one code in [0, 1) per class that picks one of its centres (code 0: the largest cluster), so one label map
gives a different look per code (the paper's figure 7 picks the centres by hand).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from munit.config import ConfigError
from munit.data.images import PairedDataset
from munit.losses import gen_adv_loss
from munit.methods.base import GeneratorPass, Method, Term, other_methods_keys, weighted_total
from munit.methods.spade import VGG19Loss
from munit.nets.pix2pixhd import FeatureEncoder, LocalEnhancer, global_generator, kmeans, paint
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
                   *other_methods_keys("feat_w", "n_local_enhancers", "niter_fix_global", "global_from", "feat_num",
                                       "n_clusters"))
    fit_images = 1000  # Training pairs whose codes the clusters are fitted on (the authors': all of them).

    def __init__(self, cfg):
        super().__init__(cfg)
        self.multimodal = cfg.feat_num > 0  # A code per class picks the look of each region.
        if cfg.feat_num:
            self.generator_names = ("gen", "enc")

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
        if cfg.feat_num and (cfg.crop_image_height % 16 or cfg.crop_image_width % 16):
            raise ConfigError(f"crop {cfg.crop_image_height}x{cfg.crop_image_width}: pix2pixHD's feature encoder "
                              "(feat_num) halves the image 4 times, so both sides must be multiples of 16")

    @classmethod
    def min_image_size(cls, cfg) -> int:
        return 16

    def size_multiple(self) -> int:
        return 2 ** (self.cfg.gen.n_downsample + self.cfg.n_local_enhancers)  # The enhancer halves once more.

    def build_networks(self) -> nn.ModuleDict:
        cfg, g, d = self.cfg, self.cfg.gen, self.cfg.dis
        gen_in = cfg.channels("a") + cfg.feat_num
        gen = (LocalEnhancer(gen_in, cfg.input_dim_b, g.dim, g.n_downsample, g.n_res)
               if cfg.n_local_enhancers else global_generator(gen_in, cfg.input_dim_b, g.dim, g.n_downsample, g.n_res))
        dis = MultiscaleDis(cfg.channels("a") + cfg.input_dim_b, d.dim, d.n_layer, d.num_scales, spectral=False)
        nets = {"gen": gen, "dis": dis}
        if cfg.feat_num:  # Width: the authors' nef 16 beside ngf 64.
            nets["enc"] = FeatureEncoder(cfg.input_dim_b, cfg.feat_num, max(g.dim // 4, 1), self.classes,
                                         cfg.n_clusters)
        return self.init_networks(nn.ModuleDict(nets))

    @property
    def classes(self) -> int:
        """Regions of an input whose codes are averaged: its label map's classes, or one (the whole image)."""
        return self.cfg.label_nc or 1

    def regions(self, x_a: torch.Tensor) -> torch.Tensor:
        """(N, classes, H, W) one-hot: the label map's class channels, or the whole image as one region."""
        return x_a[:, :self.cfg.label_nc] if self.cfg.label_nc else torch.ones_like(x_a[:, :1])

    def _input(self, x_a: torch.Tensor, means: torch.Tensor | None) -> torch.Tensor:
        """G's input: the map, and with the feature encoder each region's code (N, classes, feat_num) painted."""
        return x_a if means is None else torch.cat([x_a, paint(means, self.regions(x_a))], 1)

    def _encoded(self, nets, x_a, x_b) -> torch.Tensor | None:
        return nets["enc"](x_b, self.regions(x_a)) if self.cfg.feat_num else None

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
        return {"dis": torch.cat([x_a, nets["gen"](self._input(x_a, self._encoded(nets, x_a, x_b)))], 1)}

    def generator_pass(self, nets, x_a, x_b):
        fake = self._generator(nets)(self._input(x_a, self._encoded(nets, x_a, x_b)))
        return GeneratorPass(self.vgg_terms(fake, x_b), {"dis": torch.cat([x_a, fake], 1)}, reals=self.reals(x_a, x_b))

    def generator_loss(self, nets, gen_pass):
        """LSGAN over the scales and feature matching weighted 4 / (n_layers_D + 1) per layer, as the authors;
        their n_layers_D is this discriminator's n_layer - 1 (it counts as SPADE's code)."""
        terms, dis = dict(gen_pass.terms), nets["dis"]
        fake = dis.features(self.augment(gen_pass.fakes["dis"]))
        real = dis.features(self.augment(gen_pass.reals["dis"]))
        terms["adv"] = Term(self.cfg.gan_w, gen_adv_loss([layers[-1] for layers in fake], self.cfg.dis.gan_type))
        terms["fm"] = Term(self.cfg.feat_w * 4 / self.cfg.dis.n_layer, feature_matching(fake, real))
        return weighted_total(terms)

    @property
    def code_dim(self) -> int:
        return self.classes

    def random_styles(self, n, device, generator=None):
        """n codes (n, classes, 1, 1), uniform in [0, 1): each picks one of its class's centres."""
        return torch.rand(n, self.classes, 1, 1, device=device, generator=generator)

    def translate(self, nets, x, direction, style=None):
        self.direction(direction)
        if not self.cfg.feat_num:
            return nets["gen"](x)
        codes = torch.zeros(len(x), self.classes, device=x.device) if style is None else style.flatten(1)
        return nets["gen"](self._input(x, nets["enc"].pick(codes)))

    def sample_columns(self, nets, x, refs, direction, styles):
        columns = [("input", self.display(x, "a")), ("translation", self.translate(nets, x, direction))]
        if self.cfg.feat_num:
            columns += [("random styles", self.translate(nets, x, direction, s[None].expand(len(x), -1, -1, -1)))
                        for s in styles]
        return columns

    def export_graphs(self, nets):
        """translate_a2b; with the feature encoder its input `codes` (N, classes) in [0, 1) picks the centres."""
        graphs = super().export_graphs(nets)
        if self.cfg.feat_num:
            graphs["translate_a2b"] = (graphs["translate_a2b"][0], ("image_a", "codes"))
        return graphs

    @torch.no_grad()
    def fit_inference_state(self, nets, data) -> None:
        """Cluster each class's codes of the first `fit_images` training pairs (K-means, n_clusters, seeded):
        the centres that test-time codes pick from."""
        if not self.cfg.feat_num:
            return
        enc = nets["enc"].eval()
        pairs = PairedDataset(data["a"], data["b"])
        count, means, present = min(len(pairs), self.fit_images), [], []
        for start in range(0, count, 16):
            x_a, x_b = (torch.stack(t).to(enc.centres.device)
                        for t in zip(*(pairs[i] for i in range(start, min(start + 16, count))), strict=True))
            means.append(enc(x_b, self.regions(x_a)).float().cpu())
            present.append(self.regions(x_a).sum((2, 3)).cpu() > 0)
        means, present = torch.cat(means), torch.cat(present)
        generator = torch.Generator().manual_seed(self.cfg.seed)
        centres, counts = torch.zeros_like(enc.centres, device="cpu"), torch.zeros_like(enc.counts, device="cpu")
        for c in range(self.classes):
            points = means[present[:, c], c]
            k = min(self.cfg.n_clusters, len(points))
            if k:
                centres[c, :k], counts[c] = kmeans(points, k, generator), k
        enc.centres.copy_(centres)
        enc.counts.copy_(counts)
