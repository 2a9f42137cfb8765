"""What every method provides to the shared training loop, sampling and translation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from PIL import Image
from torch import nn

from munit.config import Config, short_value
from munit.data.domains import domain_names
from munit.data.images import check_resized, to_mode, to_tensor
from munit.data.labels import check_classes, class_ids, colorize, label_tensor, pack
from munit.errors import UsageError
from munit.losses import dis_loss, gen_adv_loss
from munit.nets.blocks import init_weights
from munit.nets.diffaug import diff_augment, parse_policy

DIRECTIONS = ("a2b", "b2a")
# Keys of one method each (GcGAN, DiscoGAN, CoGAN, CUT, pix2pix, pix2pixHD, BicycleGAN's gen.where_add;
# gen.norm: pix2pix, BicycleGAN, SPADE; feat_w: pix2pixHD, SPADE; info_*: CycleGAN + noise; StarGAN v2's
# r1_w, ds_*, lr_mapping, gen.latent_dim; Fader's lat_dis_*):
# every other method lists them among its unused keys.
SINGLE_METHOD_KEYS = ("gc_w", "gc_transform", "gan_curriculum", "latent_search_steps", "latent_search_tol",
                      "test_noise", "nce_w", "nce_idt", "nce_layers", "nce_patches", "nce_dim", "nce_t",
                      "flip_equivariance", "gen.norm", "patch_nce_w", "feat_w", "n_local_enhancers",
                      "niter_fix_global", "global_from", "feat_num", "n_clusters", "info_w", "info_categories",
                      "gen.where_add", "gen.mod_levels", "r1_w", "ds_w", "ds_iter", "lr_mapping", "gen.latent_dim",
                      "lat_dis_w", "lat_dis_schedule", "lat_dis_dropout")


def other_methods_keys(*own: str) -> tuple[str, ...]:
    """SINGLE_METHOD_KEYS but a method's own."""
    return tuple(k for k in SINGLE_METHOD_KEYS if k not in own)


class Direction(str):
    """A translation direction ('a2b' or 'b2a'), checked once where it enters: `source` and `target` are its
    domains. A str, so it is a dict key and a file-name part like the plain string."""

    def __new__(cls, value: object, allowed: tuple[str, ...] = DIRECTIONS, who: str = "munit") -> Direction:
        if not isinstance(value, str) or value not in allowed:
            which = f"{allowed[0]} only" if len(allowed) == 1 else " and ".join(allowed)
            raise UsageError(f"{who} translates {which}, not {short_value(value)}")
        return super().__new__(cls, value)

    @property
    def source(self) -> str:
        return self[0]

    @property
    def target(self) -> str:
        return self[2]


class TargetDomain(Direction):
    """A multi-domain method's direction: the name of its target domain. Inputs may come from any domain and
    take domain A's settings (channels, size), hence `source` 'a'."""

    def __new__(cls, value: object, allowed: tuple[str, ...], who: str) -> TargetDomain:
        if not isinstance(value, str) or value not in allowed:
            raise UsageError(f"{who} translates to the domains {', '.join(allowed)}, not {short_value(value)}")
        return str.__new__(cls, value)

    @property
    def source(self) -> str:
        return "a"

    @property
    def target(self) -> str:
        return str(self)


class Term(NamedTuple):
    """A loss term and its weight in the total (a config key's value)."""

    weight: float
    value: torch.Tensor


@dataclass
class GeneratorPass:
    """One forward pass of the generators: its loss terms that involve no discriminator, by name (one name
    per kind of term across methods: recon_x_a, cyc_x_b, recon_kl_a, vgg_b, ...), and the fake each
    discriminator judges (keyed by discriminator name, its graph attached).

    `redraw`, for methods whose fakes depend on random draws (style codes, noise), makes the
    discriminators' fakes anew from the pass's encodings with draws of their own (recorded draws may be
    passed as keywords). The reference's discriminator step sees such independent fakes; fast mode used to
    judge the very fakes the generator is then trained on, and learnt worse on photographs (issue 12)."""

    terms: dict[str, Term]
    fakes: dict[str, torch.Tensor]
    redraw: Callable[..., dict[str, torch.Tensor]] | None = None
    reals: dict[str, torch.Tensor] | None = None  # For a generator loss that compares features of reals.


class Method:
    """A method names its networks and defines its losses; everything else is shared.

    Networks live in one `nn.ModuleDict`; those named in `generator_names` are optimised by the
    generator optimiser (and averaged by EMA), those in `discriminator_names` by the discriminator one.
    Images are (N, C, H, W) in [-1, 1].

    An iteration is built from `generator_pass` (the generators' forward and non-adversarial terms),
    `discriminator_loss` on fakes (made with random draws of their own: by the pass's `redraw`, or by
    `dis_fakes`, a whole forward pass as the reference does) and `generator_loss` (the pass plus the
    adversarial terms of the updated discriminators).
    """

    name = ""
    multimodal = False  # Whether one input has many outputs, one per random style code.
    reference_guided = False  # Whether it can copy the style of a reference image (`encode_style`).
    directions: tuple[str, ...] = DIRECTIONS  # Directions it translates in.
    paired = False  # Whether it trains on aligned (A_i, B_i) pairs.
    fixed_size = False  # Whether its networks take only the training crop size (e.g. a U-Net down to 1x1).
    takes_labels = False  # Whether domain A may hold semantic label maps (`label_nc`).
    multi_domain = False  # Whether it translates between named domains (`domains`); its directions are their names.
    reference_batches = True  # Multi-domain: whether batches carry reference pairs and random codes (StarGAN v2).
    unused_keys: tuple[str, ...] = ()  # Config keys it ignores; a config that sets them gets a warning.
    generator_names: tuple[str, ...] = ("gen_a", "gen_b")
    discriminator_names: tuple[str, ...] = ("dis_a", "dis_b")
    adversarial_terms = {"dis_a": "adv_a", "dis_b": "adv_b"}  # The generator's adversarial term per discriminator.
    dis_loss_scale = 1.0  # Factor of each discriminator's loss (0.5 slows D down in pix2pix and CycleGAN).
    # Logged terms (by prefix) that measure how well it reproduces images; they fall as it learns.
    reconstruction_terms: tuple[str, ...] = ("recon_x", "cyc_x")
    reconstruction_fall = 0.2  # The fraction they fall by in the registry's 40-iteration check.

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.iteration = 0  # The trainer's iteration, for losses with a schedule (DiscoGAN's curriculum).
        if self.multi_domain:  # Its domains, in label order, are its directions.
            self.domains = tuple(domain_names(cfg))
            self.directions = self.domains

    @classmethod
    def min_image_size(cls, cfg: Config) -> int:
        """Smallest image side the method's networks accept (checked when a config is loaded)."""
        return 1

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        """Raise ConfigError for settings this method cannot train with (called when a config is loaded)."""

    def build_networks(self) -> nn.ModuleDict:
        raise NotImplementedError

    def inference_size(self, width: int, height: int, domain: str) -> tuple[int, int]:
        """Size to resize an input image to: shorter side to the domain's training size, aspect kept,
        both sides multiples of `size_multiple` so that encoder and decoder shapes match."""
        size, multiple = self.cfg.size_of(domain), self.size_multiple()
        scale = size / min(width, height)
        w, h = (max(16, round(v * scale / multiple) * multiple) for v in (width, height))
        check_resized(width, height, (w, h))
        return w, h

    def size_multiple(self) -> int:
        """What image sides must be multiples of for the generators: 2**gen.n_downsample."""
        return 2 ** self.cfg.gen.n_downsample

    @property
    def dis_batch_norm(self) -> bool:
        """Whether the discriminators normalise over the batch, so that fakes and reals must not share a call."""
        return self.cfg.dis.norm == "bn"

    def direction(self, value: object) -> Direction:
        """`value` as a Direction this method translates in; UsageError otherwise."""
        if self.multi_domain:
            return TargetDomain(value, self.directions, f"method {self.name!r}")
        return Direction(value, self.directions, f"method {self.name!r}")

    def network_lr(self, name: str, lr: float) -> float:
        """The learning rate of network `name`, whose optimiser's is `lr` (StarGAN v2's mapping network
        learns far slower than the rest)."""
        return lr

    def setup_training(self, device: torch.device) -> None:
        """Load what only training needs (e.g. a perceptual loss's pretrained network); the trainer calls it."""

    def to(self, device: torch.device) -> Method:
        """Move what the method holds outside `nets` (e.g. a frozen feature network)."""
        return self

    def start_networks(self, nets: nn.ModuleDict, read_checkpoint: Callable[[str], dict]) -> None:
        """Set trained weights into new networks before training (e.g. pix2pixHD's global generator from a
        run of its own, read with `read_checkpoint(run or file)`); called before the optimisers and EMA are
        made, and a resumed run's checkpoint overwrites them."""

    def fit_inference_state(self, nets: nn.ModuleDict, data) -> None:
        """Fit what translation takes from the training data besides the weights, into buffers of `nets` (e.g.
        pix2pixHD's clusters of codes); the trainer calls it before test grids and checkpoints."""

    def init_networks(self, nets: nn.ModuleDict) -> nn.ModuleDict:
        """The reference's initialisation: generators by `init`, discriminators N(0, 0.02), biases 0."""
        for name in self.generator_names:
            init_weights(nets[name], self.cfg.init)
        for name in self.discriminator_names:
            init_weights(nets[name], "gaussian")
        return nets

    def dis_fakes(self, nets: nn.ModuleDict, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """The fake each discriminator judges, made by a forward pass of its own (the exact mode's
        discriminator step; random draws may be passed as keywords)."""
        raise NotImplementedError

    def generator_pass(self, nets: nn.ModuleDict, x_a: torch.Tensor, x_b: torch.Tensor) -> GeneratorPass:
        raise NotImplementedError

    def reals(self, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """The real images each discriminator judges."""
        return {"dis_a": x_a, "dis_b": x_b}

    def discriminator_loss(self, nets: nn.ModuleDict, x_a: torch.Tensor, x_b: torch.Tensor,
                           fakes: dict[str, torch.Tensor], joint: bool = False
                           ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss to minimise and its named, detached terms; `fakes` carry no graph. `joint` (fast mode)
        judges fakes and reals in one call per discriminator where that gives the same per-image maths."""
        reals, gan_type = self.reals(x_a, x_b), self.cfg.dis.gan_type
        terms = {}
        for name, fake in fakes.items():
            if joint and not self.dis_batch_norm and fake.shape == reals[name].shape:
                # One call on fakes and reals together: the same per-image maths, better kernels at small batch.
                outputs = self.judge(nets, name, torch.cat([fake, reals[name]]))
                out_fake, out_real = zip(*(o.split(fake.shape[0]) for o in outputs), strict=True)
            else:
                out_fake, out_real = self.judge(nets, name, fake), self.judge(nets, name, reals[name])
            terms[name] = self.dis_loss_scale * dis_loss(list(out_fake), list(out_real), gan_type)
        total = self.cfg.gan_w * sum(terms.values())
        return total, detached(terms, total)

    def generator_loss(self, nets: nn.ModuleDict, gen_pass: GeneratorPass
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The pass's terms plus each discriminator's adversarial term (named in `adversarial_terms`)."""
        terms = dict(gen_pass.terms)
        for name, fake in gen_pass.fakes.items():
            terms[self.adversarial_terms[name]] = Term(self.cfg.gan_w, gen_adv_loss(self.judge(nets, name, fake),
                                                                                    self.cfg.dis.gan_type))
        return weighted_total(terms)

    def judge(self, nets: nn.ModuleDict, name: str, x: torch.Tensor) -> list[torch.Tensor]:
        """Discriminator `name`'s outputs on x, through DiffAugment's transforms when the config asks."""
        return nets[name](self.augment(x))

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """x as a discriminator sees it: DiffAugment's transforms (`diffaug`), or untouched."""
        policy = parse_policy(self.cfg.diffaug)
        return diff_augment(x, policy) if policy else x

    def styles(self, nets: nn.ModuleDict | None, n: int, device: torch.device,
               generator: torch.Generator | None = None, references: torch.Tensor | None = None,
               domain: str | None = None) -> torch.Tensor | None:
        """The style codes (n, style_dim, 1, 1) on `device` that n translations take, the one choice every
        caller (API, CLI, evaluation, page, training grids) makes here: those of `references` (1 or n images
        of the target `domain`) when given; else n draws from the prior for a multimodal method, drawn on
        the CPU with `generator` so that a seed gives the same codes on every device; else None (the method
        has no style)."""
        if references is not None:
            codes = self.encode_style(nets, references.to(device), domain)
            if len(codes) not in (1, n):
                raise UsageError(f"got {len(codes)} reference images for {n} inputs; give 1 or {n}")
            return codes.expand(n, -1, -1, -1)
        if not self.multimodal:
            return None
        return self.random_styles(n, torch.device("cpu"), generator).to(device)

    def prepare_image(self, img: Image.Image, domain: str) -> torch.Tensor:
        """A PIL image as the networks take it: (C, H, W) in [-1, 1] with the domain's channels, resized
        (bicubic) to `inference_size`; a label map (one channel of class ids) one-hot encoded."""
        if self.labels(domain):
            ids = class_ids(img, "label map")
            check_classes(ids, self.cfg.label_nc, "label map")
            return self.prepare_label(pack(ids))
        img = to_mode(img, self.cfg.input_dim(domain))
        size = self.inference_size(*img.size, domain)
        return to_tensor(img.resize(size, resample=Image.BICUBIC) if size != img.size else img)

    def labels(self, domain: str) -> bool:
        """Whether the domain's images are label maps."""
        return domain == "a" and self.cfg.label_nc > 0

    def prepare_label(self, packed: Image.Image) -> torch.Tensor:
        """A packed label map (munit.data.labels.pack) resized (nearest) to `inference_size`, one-hot."""
        size = self.inference_size(*packed.size, "a")
        packed = packed.resize(size, resample=Image.NEAREST) if size != packed.size else packed
        return label_tensor(packed, self.cfg.label_nc, self.cfg.use_instance)

    def display(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """Images of a domain as grids show them: label maps in colour."""
        return colorize(x, self.cfg.label_nc) if self.labels(domain) else x

    @property
    def code_dim(self) -> int:
        """Length of the style code that `translate` takes."""
        return self.cfg.gen.style_dim

    def random_styles(self, n: int, device: torch.device, generator: torch.Generator | None = None
                      ) -> torch.Tensor:
        """n style (or noise) codes (n, gen.style_dim, 1, 1) from the prior N(0, I)."""
        return torch.randn(n, self.cfg.gen.style_dim, 1, 1, device=device, generator=generator)

    def encode_style(self, nets: nn.ModuleDict, x: torch.Tensor, domain: str) -> torch.Tensor:
        """Style code (N, style_dim, 1, 1) of images x of domain 'a' or 'b' (reference-guided methods)."""
        raise UsageError(f"method {self.name!r} cannot take the style of a reference image")

    def encode_content(self, nets: nn.ModuleDict, x: torch.Tensor, domain: str) -> torch.Tensor:
        """Content code of images x of domain 'a' or 'b' (methods with a shared content/latent space)."""
        raise UsageError(f"method {self.name!r} has no content code to encode")

    def decode(self, nets: nn.ModuleDict, content: torch.Tensor, domain: str,
               style: torch.Tensor | None = None) -> torch.Tensor:
        """Images of domain 'a' or 'b' from a content code (and, for MUNIT, a style code)."""
        raise UsageError(f"method {self.name!r} has no decoder of content codes")

    def translate(self, nets: nn.ModuleDict, x: torch.Tensor, direction: str,
                  style: torch.Tensor | None = None) -> torch.Tensor:
        """Translate x; `style` (N, style_dim) is the target style of a multimodal method."""
        raise NotImplementedError

    def sample_columns(self, nets: nn.ModuleDict, x: torch.Tensor, refs: torch.Tensor, direction: str,
                       styles: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """Labelled columns of a sample grid for inputs x: input, reconstruction, translations. A
        multimodal method adds one column per code in `styles`, a reference-guided one a column per
        image in `refs` (last)."""
        raise NotImplementedError

    def export_graphs(self, nets: nn.ModuleDict) -> dict[str, tuple[nn.Module, tuple[str, ...]]]:
        """Modules to export as stand-alone graphs, with their input names. Inputs named "image_<d>" are
        images (N, C, H, W) of domain d in [-1, 1]; "style" is (N, style_dim). Default: one translation
        graph per direction (with a style input for multimodal methods)."""
        graphs = {}
        for direction in self.directions:
            inputs = (f"image_{direction[0]}", "style") if self.multimodal else (f"image_{direction[0]}",)
            graphs[f"translate_{direction}"] = (_Translation(self, nets, direction), inputs)
        return graphs

    def state_dict(self) -> dict:
        """State the method keeps between iterations outside its networks (e.g. a pool of fakes)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def source_target(nets: nn.ModuleDict, direction: str) -> tuple[nn.Module, nn.Module]:
    """The generators of the source and the target domain of `direction`."""
    return (nets["gen_a"], nets["gen_b"]) if direction == "a2b" else (nets["gen_b"], nets["gen_a"])


def weighted_total(terms: dict[str, Term]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Sum of the weighted terms (in their order, as the reference adds them), and the logged terms."""
    total = sum(term.weight * term.value for term in terms.values())
    return total, detached({name: term.value for name, term in terms.items()}, total)


def detached(terms: dict[str, torch.Tensor], total: torch.Tensor) -> dict[str, torch.Tensor]:
    """Loss terms and their total, detached, for logging."""
    logged = {name: value.detach() for name, value in terms.items()}
    logged["total"] = total.detach()
    return logged


class _Translation(nn.Module):
    """`method.translate` in one direction as a module (for export)."""

    def __init__(self, method: Method, nets: nn.ModuleDict, direction: str):
        super().__init__()
        self.method, self.nets, self.direction = method, nets, direction

    def forward(self, image: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return self.method.translate(self.nets, image, self.direction,
                                     None if style is None else style[:, :, None, None])
