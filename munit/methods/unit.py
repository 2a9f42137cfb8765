"""UNIT (Liu, Breuel, Kautz, NeurIPS 2017): a shared latent space learnt by two VAE-GANs with cycle
consistency. As NVlabs/MUNIT's UNIT_Trainer: the posterior is N(h, I), KL = mean(h**2), and no weights
are shared unless `unit_share_weights` asks for the paper's sharing."""

from __future__ import annotations

import torch

from munit.losses import recon_loss
from munit.methods.autoencoders import AutoEncoderMethod
from munit.methods.base import SINGLE_METHOD_KEYS, GeneratorPass, Term, source_target
from munit.nets.generators import VAEGen


class UNIT(AutoEncoderMethod):
    name = "unit"
    generator_class = VAEGen
    unused_keys = ("gen.style_dim", "gen.mlp_dim", "recon_s_w", "recon_c_w", "identity_w", "pool_size",
                   *SINGLE_METHOD_KEYS)

    def share_weights(self, nets):
        if self.cfg.unit_share_weights:  # The paper: the encoders' last and the decoders' first layer.
            nets["gen_b"].enc.model[-1].model[-1] = nets["gen_a"].enc.model[-1].model[-1]
            nets["gen_b"].dec.model[0].model[0] = nets["gen_a"].dec.model[0].model[0]

    def dis_fakes(self, nets, x_a, x_b, noises=None):
        """`noises`: the two encoder noises (of x_a, then x_b); drawn when not given."""
        n_a, n_b = noises if noises is not None else (None, None)
        h_a, n_a = nets["gen_a"].encode(x_a, n_a)
        h_b, n_b = nets["gen_b"].encode(x_b, n_b)
        return {"dis_a": nets["gen_a"].decode(h_b + n_b), "dis_b": nets["gen_b"].decode(h_a + n_a)}

    def generator_pass(self, nets, x_a, x_b, noises=None):
        """`noises`: the four encoder noises, in call order (x_a, x_b, x_ba, x_ab); drawn when not given."""
        cfg = self.cfg
        gen_a, gen_b = nets["gen_a"], nets["gen_b"]
        n = list(noises) if noises is not None else [None] * 4
        h_a, n_a = gen_a.encode(x_a, n[0])
        h_b, n_b = gen_b.encode(x_b, n[1])
        x_a_recon = gen_a.decode(h_a + n_a)
        x_b_recon = gen_b.decode(h_b + n_b)
        x_ba = gen_a.decode(h_b + n_b)
        x_ab = gen_b.decode(h_a + n_a)
        h_b_recon, n_b_recon = gen_a.encode(x_ba, n[2])
        h_a_recon, n_a_recon = gen_b.encode(x_ab, n[3])
        terms = {
            "recon_x_a": Term(cfg.recon_x_w, recon_loss(x_a_recon, x_a)),
            "recon_x_b": Term(cfg.recon_x_w, recon_loss(x_b_recon, x_b)),
            "recon_kl_a": Term(cfg.recon_kl_w, torch.mean(h_a ** 2)),
            "recon_kl_b": Term(cfg.recon_kl_w, torch.mean(h_b ** 2)),
            "recon_kl_cyc_aba": Term(cfg.recon_kl_cyc_w, torch.mean(h_a_recon ** 2)),
            "recon_kl_cyc_bab": Term(cfg.recon_kl_cyc_w, torch.mean(h_b_recon ** 2)),
        }
        if cfg.recon_x_cyc_w > 0:
            terms["cyc_x_a"] = Term(cfg.recon_x_cyc_w, recon_loss(gen_a.decode(h_a_recon + n_a_recon), x_a))
            terms["cyc_x_b"] = Term(cfg.recon_x_cyc_w, recon_loss(gen_b.decode(h_b_recon + n_b_recon), x_b))
        self.add_perceptual_terms(terms, x_ba, x_b, x_ab, x_a)

        def redraw(noises=None):  # The D step's fakes: the same latent means, noises of their own.
            n_a, n_b = noises if noises is not None else (torch.randn_like(h_a), torch.randn_like(h_b))
            return {"dis_a": gen_a.decode(h_b.detach() + n_b), "dis_b": gen_b.decode(h_a.detach() + n_a)}

        return GeneratorPass(terms, {"dis_a": x_ba, "dis_b": x_ab}, redraw)

    def encode_content(self, nets, x, domain):
        """The shared latent's mean (no noise)."""
        return nets[f"gen_{domain}"].enc(x)

    def decode(self, nets, content, domain, style=None):
        return nets[f"gen_{domain}"].decode(content)

    def translate(self, nets, x, direction, style=None):
        """The latent mean, no noise, as the reference does at test time."""
        direction = self.direction(direction)
        source, target = source_target(nets, direction)
        return target.decode(source.enc(x))

    def sample_columns(self, nets, x, refs, direction, styles):
        source, target = source_target(nets, direction)
        hidden = source.enc(x)
        return [("input", x), ("recon", source.decode(hidden)), ("translation", target.decode(hidden))]
