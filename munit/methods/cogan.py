"""CoGAN (Liu & Tuzel, NeurIPS 2016): two GANs trained from one noise vector z, the generators sharing
their first (high-level) layers and the discriminators their last ones, so that one z gives a pair of
corresponding images without any paired data.

Translation is the paper's cross-domain transformation: find the z whose source-domain image is closest
to the input (mean squared error, Adam on z from the prior's centre, z kept in the prior's box [-1, 1];
at most `latent_search_steps` steps, stopping when an interval of 10 steps improves the error by less
than `latent_search_tol` of it), then decode that z in the target domain. That search makes CoGAN's
translation hundreds of times slower than a feed-forward method's (about a second per 64 px image on a
laptop CPU at the shipped width). Exported graphs are the two generators (z -> image).

Defaults of the authors' code: z of 100 values uniform in [-1, 1], transposed-conv generators and conv
discriminators with batch norm and PReLU, weights N(0, 0.02) (their CelebA Caffe networks), cross-entropy
GAN loss, Adam lr 2e-4, betas (0.5, 0.999), weight decay 5e-4 (cogan_pytorch). munit scales the networks
to the crop size (CoupledTrunk) and shares all but the last upsampling of the generators and all but the
first conv of the discriminators; the authors' discriminators also use dropout, left out here.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm import tqdm

from munit.config import ConfigError
from munit.methods.base import GeneratorPass, Method, other_methods_keys
from munit.nets.dcgan import CoupledDiscriminator, CoupledGenerator, CoupledTrunk, coupled_tail, gaussian_init

SEARCH_LR = 0.05  # Adam's step on z, in units of the prior's half-width.
CHECK_EVERY = 10  # Steps between tolerance checks of the latent search.


class CoGAN(Method):
    name = "cogan"
    fixed_size = True  # The generators make images of the training size only.
    dis_batch_norm = True  # Whatever dis.norm says: the authors' discriminators.
    reconstruction_terms = ()  # It learns a joint distribution; its fit to an image is found at test time.
    unused_keys = ("recon_x_w", "recon_s_w", "recon_c_w", "recon_x_cyc_w", "recon_kl_w", "recon_kl_cyc_w", "vgg_w",
                   "identity_w", "pool_size", "unit_share_weights",
                   "init", "gen.n_downsample", "gen.n_res", "gen.mlp_dim", "gen.activ", "gen.pad_type", "dis.norm",
                   "dis.activ", "dis.n_layer", "dis.num_scales", "dis.pad_type",
                   *other_methods_keys("latent_search_steps", "latent_search_tol"))

    @classmethod
    def check_config(cls, cfg) -> None:
        side = cfg.crop_image_height
        if side != cfg.crop_image_width or side < 16 or side & (side - 1):
            raise ConfigError(f"the crop is {cfg.crop_image_height}x{cfg.crop_image_width}; CoGAN's generators make "
                              "square images whose side is a power of two, at least 16")

    @classmethod
    def min_image_size(cls, cfg) -> int:
        return 16

    def inference_size(self, width, height, domain):
        side = self.cfg.crop_image_height
        return side, side  # Inputs are resized (not cropped) to the size the generators make.

    def build_networks(self) -> nn.ModuleDict:
        cfg, size = self.cfg, self.cfg.crop_image_height
        trunk = CoupledTrunk(cfg.gen.style_dim, size, cfg.gen.dim)
        tail = coupled_tail(size, cfg.dis.dim)
        nets = nn.ModuleDict({
            "gen_a": CoupledGenerator(trunk, cfg.input_dim_a),
            "gen_b": CoupledGenerator(trunk, cfg.input_dim_b),
            "dis_a": CoupledDiscriminator(cfg.input_dim_a, cfg.dis.dim, tail),
            "dis_b": CoupledDiscriminator(cfg.input_dim_b, cfg.dis.dim, tail),
        })
        gaussian_init(nets)
        return nets

    def random_styles(self, n, device, generator=None):
        """n latent vectors (n, z_dim, 1, 1) from the prior, uniform in [-1, 1]."""
        return torch.rand(n, self.cfg.gen.style_dim, 1, 1, device=device, generator=generator) * 2 - 1

    def dis_fakes(self, nets, x_a, x_b, z=None):
        z = self.random_styles(x_a.shape[0], x_a.device) if z is None else z
        return {"dis_a": nets["gen_a"](z), "dis_b": nets["gen_b"](z)}  # One z for both: the coupling.

    def generator_pass(self, nets, x_a, x_b, z=None):
        fakes = self.dis_fakes(nets, x_a, x_b, z)
        return GeneratorPass({}, fakes, lambda z=None: self.dis_fakes(nets, x_a, x_b, z))

    def fit_latent(self, gen: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The z (N, z_dim, 1, 1) in [-1, 1] whose image by `gen` is closest to x (the latent search)."""
        steps, tol = self.cfg.latent_search_steps, self.cfg.latent_search_tol
        with torch.inference_mode(False), torch.enable_grad():
            x = x.clone()  # Callers may run under inference mode, whose tensors autograd cannot save.
            z = torch.zeros(x.shape[0], self.cfg.gen.style_dim, 1, 1, device=x.device, requires_grad=True)
            optimizer = torch.optim.Adam([z], lr=SEARCH_LR)
            last = math.inf
            bar = tqdm(range(steps), desc=f"CoGAN: fitting z to {x.shape[0]} image(s)", unit="step", leave=False,
                       disable=None)
            for step in bar:
                error = ((gen(z) - x) ** 2).flatten(1).mean(1).sum()
                (z.grad,) = torch.autograd.grad(error, z)
                optimizer.step()
                with torch.no_grad():
                    z.clamp_(-1, 1)
                if step % CHECK_EVERY == CHECK_EVERY - 1:
                    value = error.item()
                    if last - value < tol * last:
                        break
                    last = value
            bar.close()
        return z.detach()

    def translate(self, nets, x, direction, style=None):
        direction = self.direction(direction)
        z = self.fit_latent(nets[f"gen_{direction.source}"], x)
        return nets[f"gen_{direction.target}"](z)

    def sample_columns(self, nets, x, refs, direction, styles):
        direction = self.direction(direction)
        z = self.fit_latent(nets[f"gen_{direction.source}"], x)
        z_random = self.random_styles(x.shape[0], torch.device("cpu"), torch.Generator().manual_seed(0)).to(x.device)
        return [("input", x), ("fit", nets[f"gen_{direction.source}"](z)),
                ("translation", nets[f"gen_{direction.target}"](z)),
                ("random z: A", nets["gen_a"](z_random)), ("random z: B", nets["gen_b"](z_random))]

    def export_graphs(self, nets):
        """generator_a and generator_b: z (N, z_dim) -> image; translation's latent search stays in Python."""
        return {f"generator_{d}": (_Generator(nets[f"gen_{d}"]), ("style",)) for d in "ab"}


class _Generator(nn.Module):
    def __init__(self, gen: CoupledGenerator):
        super().__init__()
        self.gen = gen

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.gen(z[:, :, None, None])
