"""MUNIT (Huang et al., ECCV 2018): per-domain content/style auto-encoders trained with bidirectional
reconstruction (image, content code, style code) and adversarial losses."""

from __future__ import annotations

import torch
from torch import nn

from munit.losses import mode_seeking_loss, patch_nce_loss, recon_loss
from munit.methods.autoencoders import AutoEncoderMethod
from munit.methods.base import GeneratorPass, Term, other_methods_keys, source_target
from munit.nets.baselines import PatchSampler
from munit.nets.blocks import init_weights
from munit.nets.generators import AdaINGen


class MUNIT(AutoEncoderMethod):
    name = "munit"
    multimodal = True
    reference_guided = True
    generator_class = AdaINGen
    unused_keys = ("recon_kl_w", "recon_kl_cyc_w", "unit_share_weights", "identity_w", "pool_size",
                   *other_methods_keys("patch_nce_w", "nce_patches", "nce_dim", "nce_t"))

    def __init__(self, cfg):
        super().__init__(cfg)
        if cfg.patch_nce_w > 0:  # PatchNCE's heads, one per source domain, trained with the generators.
            self.generator_names = ("gen_a", "gen_b", "patch_a", "patch_b")

    def networks(self) -> nn.ModuleDict:
        nets = super().networks()
        if self.cfg.patch_nce_w > 0:
            for d in "ab":
                with torch.no_grad():  # The widths of the contrasted maps, for the heads.
                    probe = torch.zeros(1, self.cfg.input_dim(d), 16, 16)
                    widths = [f.shape[1] for f in nets[f"gen_{d}"].enc_content.features(probe)]
                nets[f"patch_{d}"] = PatchSampler(widths, self.cfg.nce_dim)
        return nets

    def init_networks(self, nets: nn.ModuleDict) -> nn.ModuleDict:
        super().init_networks(nets)
        for name in ("patch_a", "patch_b"):
            if name in nets:
                init_weights(nets[name], "xavier", gain=0.02)  # CUT's init of its heads.
        return nets

    def dis_fakes(self, nets, x_a, x_b, s_a=None, s_b=None):
        s_a = self.random_styles(x_a.shape[0], x_a.device) if s_a is None else s_a
        s_b = self.random_styles(x_b.shape[0], x_b.device) if s_b is None else s_b
        # As the reference, `encode` (content and style) though only the content code is used.
        return {"dis_a": nets["gen_a"].decode(nets["gen_b"].encode(x_b)[0], s_a),
                "dis_b": nets["gen_b"].decode(nets["gen_a"].encode(x_a)[0], s_b)}

    def generator_pass(self, nets, x_a, x_b, s_a=None, s_b=None):
        """The full objective (paper Eq. 5 plus the optional cycle and perceptual terms), per domain."""
        cfg = self.cfg
        gen_a, gen_b = nets["gen_a"], nets["gen_b"]
        s_a = self.random_styles(x_a.shape[0], x_a.device) if s_a is None else s_a
        s_b = self.random_styles(x_b.shape[0], x_b.device) if s_b is None else s_b
        c_a, s_a_prime = gen_a.encode(x_a)
        c_b, s_b_prime = gen_b.encode(x_b)
        x_a_recon = gen_a.decode(c_a, s_a_prime)
        x_b_recon = gen_b.decode(c_b, s_b_prime)
        x_ba = gen_a.decode(c_b, s_a)
        x_ab = gen_b.decode(c_a, s_b)
        c_b_recon, s_a_recon = gen_a.encode(x_ba)
        c_a_recon, s_b_recon = gen_b.encode(x_ab)
        terms = {
            "recon_x_a": Term(cfg.recon_x_w, recon_loss(x_a_recon, x_a)),
            "recon_x_b": Term(cfg.recon_x_w, recon_loss(x_b_recon, x_b)),
            "recon_s_a": Term(cfg.recon_s_w, recon_loss(s_a_recon, s_a)),
            "recon_s_b": Term(cfg.recon_s_w, recon_loss(s_b_recon, s_b)),
            "recon_c_a": Term(cfg.recon_c_w, recon_loss(c_a_recon, c_a)),
            "recon_c_b": Term(cfg.recon_c_w, recon_loss(c_b_recon, c_b)),
        }
        if cfg.recon_x_cyc_w > 0:  # The reference's cycrecon_x.
            terms["cyc_x_a"] = Term(cfg.recon_x_cyc_w, recon_loss(gen_a.decode(c_a_recon, s_a_prime), x_a))
            terms["cyc_x_b"] = Term(cfg.recon_x_cyc_w, recon_loss(gen_b.decode(c_b_recon, s_b_prime), x_b))
        self.add_perceptual_terms(terms, x_ba, x_b, x_ab, x_a)
        if cfg.patch_nce_w > 0:
            terms["nce_a"] = Term(cfg.patch_nce_w, self.patch_nce(nets, "a", x_a, x_ab))
            terms["nce_b"] = Term(cfg.patch_nce_w, self.patch_nce(nets, "b", x_b, x_ba))
        if cfg.ms_w > 0:  # Mode seeking: a second style per translation, pushed away from the first.
            s_a2, s_b2 = self.random_styles(x_a.shape[0], x_a.device), self.random_styles(x_b.shape[0], x_b.device)
            terms["ms_a"] = Term(cfg.ms_w, mode_seeking_loss(x_ba, gen_a.decode(c_b, s_a2), s_a, s_a2))
            terms["ms_b"] = Term(cfg.ms_w, mode_seeking_loss(x_ab, gen_b.decode(c_a, s_b2), s_b, s_b2))

        def redraw(s_a=None, s_b=None):  # The D step's fakes: the same content codes, styles of their own.
            s_a = self.random_styles(x_a.shape[0], x_a.device) if s_a is None else s_a
            s_b = self.random_styles(x_b.shape[0], x_b.device) if s_b is None else s_b
            return {"dis_a": gen_a.decode(c_b.detach(), s_a), "dis_b": gen_b.decode(c_a.detach(), s_b)}

        return GeneratorPass(terms, {"dis_a": x_ba, "dis_b": x_ab}, redraw)

    def patch_nce(self, nets, domain: str, source: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """CUT's PatchNCE between images of `domain` and their translations, both through that domain's
        content encoder (as CUT passes both through its generator's encoder), mean over the maps."""
        encoder, heads, cfg = nets[f"gen_{domain}"].enc_content, nets[f"patch_{domain}"], self.cfg
        with torch.no_grad():  # The keys are targets (CUT detaches them).
            keys, ids = heads(encoder.features(source), cfg.nce_patches)
        queries, _ = heads(encoder.features(output), cfg.nce_patches, ids)
        losses = [patch_nce_loss(q, k, source.shape[0], cfg.nce_t).mean() for q, k in zip(queries, keys, strict=True)]
        return sum(losses) / len(losses)

    def export_graphs(self, nets):
        """Per domain d: content_encoder_d (image -> content code), style_encoder_d (image -> (N, style_dim))
        and decoder_d ((content code, style) -> image): translation a2b is decoder_b(content_encoder_a(x), s)."""
        graphs = {}
        for d in "ab":
            gen = nets[f"gen_{d}"]
            graphs[f"content_encoder_{d}"] = (gen.enc_content, (f"image_{d}",))
            graphs[f"style_encoder_{d}"] = (_FlatStyle(gen), (f"image_{d}",))
            graphs[f"decoder_{d}"] = (_Decoder(gen), ("content", "style"))
        return graphs

    def translate(self, nets, x, direction, style=None):
        direction = self.direction(direction)
        source, target = source_target(nets, direction)
        if style is None:
            style = self.random_styles(x.shape[0], x.device)
        return target.decode(source.encode_content(x), style)

    def encode_style(self, nets, x: torch.Tensor, domain: str) -> torch.Tensor:
        return nets[f"gen_{domain}"].encode_style(x)

    def encode_content(self, nets, x, domain):
        return nets[f"gen_{domain}"].encode_content(x)

    def decode(self, nets, content, domain, style=None):
        if style is None:
            style = self.random_styles(content.shape[0], content.device)
        return nets[f"gen_{domain}"].decode(content, style)

    def sample_columns(self, nets, x, refs, direction, styles):
        source, target = source_target(nets, direction)
        content, own_style = source.encode(x)
        n = x.shape[0]
        columns = [("input", x), ("recon", source.decode(content, own_style))]
        columns += [("random styles", target.decode(content, s.expand(n, *s.shape))) for s in styles]
        columns += [("reference-guided", target.decode(content, s.expand(n, *s.shape)))
                    for s in target.encode_style(refs)]
        return columns


class _FlatStyle(torch.nn.Module):
    def __init__(self, gen: AdaINGen):
        super().__init__()
        self.gen = gen

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.gen.encode_style(image).flatten(1)


class _Decoder(torch.nn.Module):
    def __init__(self, gen: AdaINGen):
        super().__init__()
        self.gen = gen

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.gen.decode(content, style[:, :, None, None])
