"""The one config object: typed, read from YAML, its keys checked one by one.

Keys keep the meaning they have in NVlabs/MUNIT's `configs/*.yaml`; the keys munit adds are marked (munit).
This module knows the schema only; `munit.methods.load_config` is the entry point that also runs the
checks of the chosen method (sizes its networks accept, combinations it cannot train).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from munit.errors import UserError
from munit.nets.blocks import ACTIVATIONS, NORMS, PAD_TYPES
from munit.nets.diffaug import parse_policy
from munit.utils import atomic_write_text

BUILTIN_PREFIX = "builtin:"
MAX_CLASSES = 256  # Of label maps (munit.data.labels packs class ids into 8 bits).
MAX_INT = 2 ** 53  # Largest integer a key may hold (seeds included): beyond it values lose meaning or overflow.


class StrictLoader(yaml.SafeLoader):
    """YAML with true/false as the only booleans: YAML 1.1 also reads yes/no/on/off (and so `flip: no` as
    false, `country: no` as false), which the docs promise to refuse as a value of the wrong type."""


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                   list("tTfF"))


class ConfigError(UserError, ValueError):
    """A config key has a wrong name, type or value; the message names the key and what is allowed."""


class UnusedKeyWarning(UserWarning):
    """A config sets a key that its method does not use."""


@dataclass
class GenConfig:
    dim: int = 64  # Channels of the first encoder conv; doubled at each downsampling.
    style_dim: int = 8  # Length of the style code (the latent vector of BicycleGAN, CycleGAN + noise, CoGAN).
    n_downsample: int = 2  # Downsamplings in the content encoder (and upsamplings in the decoder).
    n_res: int = 4  # Residual blocks in the content encoder and in the decoder.
    activ: str = "relu"  # Activation of every block.
    pad_type: str = "reflect"  # Padding of every conv.
    mlp_dim: int = 256  # Width of the MLP that maps a style code to AdaIN parameters.
    norm: str = "in"  # (munit) pix2pix, BicycleGAN: the U-Net's norm, in, bn (the official pix2pix's) or ln;
    #   SPADE: the norm its blocks modulate, bn (the paper's) or in.
    latent_dim: int = 16  # (munit) StarGAN v2: length of the random code its mapping network maps to a style code.
    where_add: str = "all"  # (munit) BicycleGAN: where the latent enters the U-Net: input, all (concatenated to
    #   the input of one or every down level, the official code's two ways) or norm (scales and shifts each
    #   normalised up level, as AdaIN: the most diverse outputs at CPU budgets, less realistic ones).
    mod_levels: int = 0  # (munit) BicycleGAN with where_add norm: how many up levels, innermost first, z scales
    #   and shifts (0: every normalised one); the outer levels then paint from the skip connections.


@dataclass
class DisConfig:
    dim: int = 64  # Channels of the first conv; doubled at each of the others.
    norm: str = "none"  # Norm of all but the first conv of each scale.
    activ: str = "lrelu"  # Activation (leaky ReLU, slope 0.2).
    n_layer: int = 4  # Strided convs per scale.
    gan_type: str = "lsgan"  # Least-squares GAN, the original (non-saturating) GAN loss, or (munit) the hinge
    #   loss of NVlabs/imaginaire's MUNIT and SPADE (D: relu(1 - real) + relu(1 + fake); G: -fake).
    num_scales: int = 3  # Scales of the multi-scale discriminator (each half the size of the one before).
    pad_type: str = "reflect"  # Padding of every conv.


@dataclass
class Config:
    method: str = "munit"  # (munit) Which method's networks and losses to train.
    seed: int = 0  # (munit) Seeds weights, style codes and data order; a run is reproducible on CPU.
    # Logging.
    image_save_iter: int = 10000  # Write a sample grid every this many iterations.
    image_display_iter: int = 500  # Overwrite the "current" grid every this many iterations.
    display_size: int = 16  # Inputs shown in a grid.
    snapshot_save_iter: int = 10000  # Write a checkpoint every this many iterations.
    log_iter: int = 10  # Log losses every this many iterations.
    keep_last: int = 3  # (munit) Checkpoints kept; 0 keeps all.
    # Optimisation.
    max_iter: int = 1000000  # Training iterations (one discriminator and one generator update each).
    batch_size: int = 1  # Images per domain per iteration (over all processes with --nproc).
    weight_decay: float = 0.0001  # L2 penalty added to the gradient (Adam, not AdamW), as the reference.
    beta1: float = 0.5  # Adam.
    beta2: float = 0.999  # Adam.
    init: str = "kaiming"  # Generator init; discriminators always use gaussian N(0, 0.02).
    lr: float = 0.0001  # Learning rate of both optimisers.
    lr_dis: float | None = None  # (munit) Discriminators' learning rate; null: lr. A higher one is the two
    #   time-scale update rule (Heusel et al. 2017): NVlabs/imaginaire's MUNIT trains D at 4e-4, G at 1e-4.
    lr_policy: str = "step"  # Constant; halve every step_size (the reference); linear to 0 (CycleGAN).
    step_size: int = 100000  # Iterations between lr decays (step policy).
    gamma: float = 0.5  # lr factor per decay (step policy).
    lr_decay_start: int | None = None  # (munit) Linear policy: decay to 0 at max_iter from here (max_iter / 2).
    ema_beta: float = 0.0  # (munit) EMA decay of generator weights for sampling, e.g. 0.999; 0 is off.
    train_mode: str = "fast"  # (munit) fast: one generator pass per iteration, the discriminators judging fakes
    #   decoded from its encodings with draws of their own: the same update as exact given the same draws,
    #   1.0-1.15x faster, as good as exact over two seeds on horse2zebra and on the built-in data; exact: the
    #   reference's computation step by step (the discriminator step translates anew; the golden tests).
    dis_same_draws: bool = False  # (munit) Fast mode: the discriminators judge the generator pass's own fakes
    #   (same style codes/noise) instead of fakes of their own draws. Learnt worse; kept to measure it.
    amp: str = "none"  # (munit) Mixed precision: none | bf16 | fp16 (fp16 with gradient scaling). For CUDA.
    compile: bool = False  # (munit) torch.compile each network (slow start; on CPU it did not pay off).
    channels_last: bool = False  # (munit) NHWC memory layout; helps on CUDA with amp, not on CPU.
    checkpoint_activations: str = "none"  # (munit) Recompute activations in backward to save memory: none |
    #   gen (the generators' blocks) | all (and the discriminators'). The same updates, to float rounding.
    max_bad_steps: int = 20  # (munit) Stop after this many consecutive updates with a non-finite loss/gradient.
    # Loss weights.
    gan_w: float = 1.0  # Adversarial loss.
    recon_x_w: float = 10.0  # Image reconstruction.
    recon_s_w: float = 1.0  # Style code reconstruction.
    recon_c_w: float = 1.0  # Content code reconstruction.
    recon_x_cyc_w: float = 0.0  # Explicit style-augmented cycle reconstruction.
    vgg_w: float = 0.0  # Domain-invariant perceptual loss (MUNIT, UNIT: VGG16); pix2pixHD, SPADE: their VGG19 loss
    #   of the output against the photo (10 in their papers).
    diffaug: str = "none"  # (munit) DiffAugment (Zhao et al. 2020): none, or a comma list of color, translation,
    #   cutout: random differentiable transforms of every image a discriminator judges (reals and fakes),
    #   against a discriminator memorising a small training set; the paper's "color,translation,cutout".
    recon_kl_w: float = 0.01  # UNIT: KL of the latent.
    recon_kl_cyc_w: float = 0.01  # UNIT: KL of the latent of the cycle.
    unit_share_weights: bool = False  # (munit) UNIT: share the encoders' last and decoders' first block.
    identity_w: float = 0.0  # (munit) CycleGAN: identity loss weight (the paper: 0.5 x recon_x_cyc_w).
    pool_size: int = 50  # (munit) CycleGAN, GcGAN: past fakes the discriminators also see; 0 is off.
    ms_w: float = 0.0  # (munit) Mode-seeking term (Mao et al. 2019) of multimodal methods; 1 in MSGAN/DRIT++.
    info_w: float = 0.0  # (munit) CycleGAN + noise: InfoGAN's code term (Chen et al. 2016), a head per domain
    #   recovers the random code from each translation (cross-entropy on its categorical part, squared error on
    #   the rest); 1 in InfoGAN; 0 is off.
    info_categories: int = 0  # (munit) With info_w: the code's first entries are a one-hot categorical code of
    #   this many values, drawn uniformly (InfoGAN's c); the rest stays Gaussian.
    r1_w: float = 1.0  # (munit) StarGAN v2: R1 penalty on the discriminator's gradient at real images (lambda_reg).
    ds_w: float = 1.0  # (munit) StarGAN v2: diversity-sensitive loss, its start value (lambda_ds; 1, AFHQ 2) ...
    ds_iter: int = 100000  # (munit) ... decayed linearly to 0 over this many iterations.
    lr_mapping: float = 0.000001  # (munit) StarGAN v2: the mapping network's learning rate (f_lr, 1e-6).
    lat_dis_w: float = 0.0001  # (munit) Fader: weight of the encoder's loss against the latent discriminator
    #   (lambda_lat_dis) ...
    lat_dis_schedule: int = 500000  # (munit) ... reached linearly over this many iterations (the paper's).
    lat_dis_dropout: float = 0.3  # (munit) Fader: dropout in the latent discriminator's convs.
    gc_w: float = 20.0  # (munit) GcGAN: geometry consistency (lambda_AB 10 x lambda_gc 2 in the authors' code).
    gc_transform: str = "rot"  # (munit) GcGAN: rot (90 degrees; square crops) or vflip (upside down).
    gan_curriculum: int = 10000  # (munit) DiscoGAN: iterations with reconstruction weight 0.01, then 0.5.
    latent_search_steps: int = 200  # (munit) CoGAN translation: most optimisation steps to fit z to an input.
    latent_search_tol: float = 0.001  # (munit) CoGAN: stop when the fit's error improves by less than this.
    test_noise: bool = False  # (munit) pix2pix: translate with batch statistics and dropout on (the official
    #   test.py without --eval: the paper's noise); off: plain eval mode.
    nce_w: float = 1.0  # (munit) CUT: PatchNCE weight (lambda_NCE; 1 in CUT, 10 in FastCUT).
    nce_idt: bool = True  # (munit) CUT: identity PatchNCE on B images, averaged with the main term (FastCUT: off).
    nce_layers: str = "auto"  # (munit) CUT: generator layers whose patches are contrasted, official numbering
    #   ("0,4,8,12,16"); auto: the padded input, each downsampling conv, the first and the middle residual
    #   block, which is 0,4,8,12,16 for the official 9-block generator.
    nce_patches: int = 256  # (munit) CUT, MUNIT's patch_nce_w: patches drawn per layer and image.
    nce_dim: int = 256  # (munit) CUT, MUNIT's patch_nce_w: channels of the patch projection heads.
    nce_t: float = 0.07  # (munit) CUT, MUNIT's patch_nce_w: temperature of the PatchNCE logits.
    feat_w: float = 10.0  # (munit) pix2pixHD, SPADE: discriminator feature matching, L1 over its layers
    #   (lambda_feat).
    n_local_enhancers: int = 0  # (munit) pix2pixHD: 0 trains the global generator G1, 1 the local enhancer G2.
    niter_fix_global: int = 0  # (munit) pix2pixHD with a local enhancer: iterations before G1 trains too.
    global_from: str | None = None  # (munit) pix2pixHD: a run (or checkpoint) of G1 whose weights start G2's G1.
    feat_num: int = 0  # (munit) pix2pixHD: channels of the feature encoder's code, averaged per class region of
    #   the label map and given to the generator (the paper's 3); 0: no encoder.
    n_clusters: int = 10  # (munit) pix2pixHD with feat_num: K-means centres per class of the training images'
    #   codes, fitted at each snapshot; random styles at test time pick one per class (the paper's 10).
    patch_nce_w: float = 0.0  # (munit) MUNIT: CUT's PatchNCE between each translation and its source image,
    #   features from the source domain's content encoder (input, downsampling convs, first and middle
    #   residual block) with heads trained like the generators; content kept by contrast. 0 is off.
    flip_equivariance: bool = False  # (munit) CUT: flip inputs half the time, compare patches flipped back (FastCUT).
    vgg_model_path: str | None = None  # VGG16 (VGG19 for pix2pixHD, SPADE) weights file or folder; see munit.nets.vgg.
    # Networks.
    gen: GenConfig = field(default_factory=GenConfig)
    dis: DisConfig = field(default_factory=DisConfig)
    # Data.
    input_dim_a: int = 3  # Channels of domain A images: 1 (gray), 3 (RGB) or 4 (RGBA).
    input_dim_b: int = 3  # Channels of domain B images.
    label_nc: int = 0  # (munit) Domain A holds semantic label maps with this many classes (at most 256): index,
    #   gray or palette PNGs of class ids, one-hot encoded (label-to-photo methods); 0: images.
    use_instance: bool = False  # (munit) With label maps: instance maps (<split>A_inst/, one per label map in
    #   sorted order) give one more input channel, their object boundaries (pix2pixHD).
    num_workers: int = 2  # DataLoader worker processes (persistent; pinned memory on CUDA).
    new_size: int | None = 256  # Shorter side after resizing.
    new_size_a: int | None = None  # Per-domain override of new_size.
    new_size_b: int | None = None  # Per-domain override of new_size.
    crop_image_height: int = 256  # Training crop (random in training, centred in tests).
    crop_image_width: int = 256  # Training crop width.
    flip: bool = True  # (munit) Random horizontal flips in training.
    data_root: str | None = None  # Folder with trainA/trainB/testA/testB, or "builtin:shapes"; multi-domain
    #   methods (StarGAN v2): a folder with train/<domain>/ and test/<domain>/ folders.
    domains: str | None = None  # (munit) Multi-domain methods: the domains, comma-separated, in label order;
    #   null: the folders under <data_root>/train/ (sorted), or builtin:shapes's five hues. Every domain takes
    #   domain A's settings (input_dim_a, new_size_a). Two-domain methods: two of those folders (or hues), A
    #   then B, instead of trainA/trainB.
    attributes_file: str | None = None  # (munit) Fader: a CSV file of binary attributes (header image,<name>,...;
    #   rows: a path under train/ or test/ relative to data_root, then 1 or 0/-1 per attribute); `domains`
    #   picks its columns (null: all). Null: the attribute is the domain (one value per domain folder).
    data_folder_train_a: str | None = None  # List layout: image folder ...
    data_list_train_a: str | None = None  # ... and a text file of paths relative to it.
    data_folder_train_b: str | None = None  # List layout, domain B training images: folder ...
    data_list_train_b: str | None = None  # ... and list.
    data_folder_test_a: str | None = None  # List layout, domain A test images: folder ...
    data_list_test_a: str | None = None  # ... and list.
    data_folder_test_b: str | None = None  # List layout, domain B test images: folder ...
    data_list_test_b: str | None = None  # ... and list.
    skip_bad_images: bool = False  # (munit) Skip unreadable images with a warning instead of stopping.
    builtin_train_size: int = 10000  # (munit) Images per domain in the built-in training split.
    builtin_test_size: int = 200  # (munit) Images per domain in the built-in test split.

    def size_of(self, domain: str) -> int:
        """Shorter side after resizing for domain 'a' or 'b' (a named domain of a multi-domain method: A's)."""
        own = self.new_size_b if domain == "b" else self.new_size_a
        size = own if own is not None else self.new_size
        return size if size is not None else min(self.crop_image_height, self.crop_image_width)

    def input_dim(self, domain: str) -> int:
        """Channels of the domain's image files (a named domain of a multi-domain method: A's)."""
        return self.input_dim_b if domain == "b" else self.input_dim_a

    def channels(self, domain: str) -> int:
        """Channels of the domain's images as the networks take them: a label map's classes (and instance
        boundaries), else the image's channels."""
        if domain == "a" and self.label_nc:
            return self.label_nc + self.use_instance
        return self.input_dim(domain)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES = {
    "init": ("gaussian", "kaiming", "xavier", "orthogonal", "default"),
    "lr_policy": ("constant", "step", "linear"),
    "train_mode": ("fast", "exact"),
    "amp": ("none", "bf16", "fp16"),
    "checkpoint_activations": ("none", "gen", "all"),
    "gen.activ": ACTIVATIONS,
    "gen.pad_type": PAD_TYPES,
    "dis.activ": ACTIVATIONS,
    "dis.pad_type": PAD_TYPES,
    "dis.norm": tuple(n for n in NORMS if n != "adain"),
    "dis.gan_type": ("lsgan", "nsgan", "hinge"),
    "gc_transform": ("rot", "vflip"),
    "gen.norm": ("in", "bn", "ln"),
    "gen.where_add": ("input", "all", "norm"),
    "input_dim_a": (1, 3, 4),
    "input_dim_b": (1, 3, 4),
}
MAX_SIZES = {"gen.dim": 512, "dis.dim": 512, "gen.mlp_dim": 8192, "gen.style_dim": 1024, "gen.n_res": 64,
             "gen.n_downsample": 8, "dis.n_layer": 10, "dis.num_scales": 8, "feat_num": 64, "n_clusters": 1000}
NON_NEGATIVE = {"keep_last", "num_workers", "weight_decay", "ema_beta", "gan_w", "recon_x_w", "recon_s_w",
                "recon_c_w", "recon_x_cyc_w", "vgg_w", "label_nc", "recon_kl_w", "recon_kl_cyc_w", "seed", "identity_w",
                "pool_size", "ms_w", "gc_w", "gan_curriculum", "latent_search_tol", "nce_w", "patch_nce_w", "feat_w",
                "info_w", "info_categories", "n_local_enhancers", "niter_fix_global", "feat_num", "r1_w", "ds_w",
                "lat_dis_w", "lat_dis_dropout", "gen.mod_levels"}


def read_config(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """The raw mapping of a YAML config file with `key=value` overrides applied (dotted keys for gen./dis.)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.load(path.read_text(), Loader=StrictLoader) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML: {problem}{where}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read; {NESTING}") from None
    check_nesting(raw, str(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    for item in overrides or []:
        apply_override(raw, item)
    return raw


def apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set gen.dim=32")
    *parents, leaf = key.strip().split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {item!r}: {p!r} is not a section")
    try:
        node[leaf] = yaml.load(value, Loader=StrictLoader)
    except yaml.YAMLError:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML") from None
    except RecursionError:
        raise ConfigError(f"--set {key}: the value is nested too deeply to read; {NESTING}") from None
    check_nesting(node[leaf], f"--set {key}")


MAX_NESTING = 16
NESTING = f"a config holds values at most {MAX_NESTING} lists or mappings deep (its own sections: 2)"


def check_nesting(value: Any, source: str) -> None:
    """Refuse values nested deeper than MAX_NESTING, walked without recursion (any depth is safe) and each
    shared node (a YAML alias) once per depth it is met at (an alias bomb is a small graph, not a tree)."""
    stack, deepest = [(value, 1)], {}
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)) and depth > deepest.get(id(node), 0):
            if depth > MAX_NESTING:
                raise ConfigError(f"{source}: nested more than {MAX_NESTING} levels deep; {NESTING}")
            deepest[id(node)] = depth
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))


def parse_config(raw: dict[str, Any], source: str = "config") -> Config:
    """A config whose every key has a known name, the right type and an allowed value (method-specific
    checks: `munit.methods.check_config`)."""
    cfg = _build(Config, raw, source, prefix="")
    _check(cfg, source)
    return cfg


def set_keys(raw: dict[str, Any]) -> set[str]:
    """The keys a raw config sets, dotted for sections ("gen.dim")."""
    return {f"{k}.{kk}" for k, v in raw.items() if isinstance(v, dict) for kk in v} | set(raw)


def _build(cls: type, raw: dict[str, Any], source: str, prefix: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            raise ConfigError(f"{source}: unknown key {name!r}{hint}")
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {name!r} must be a section of keys, got {short_value(value)}")
            values[key] = _build(kind, value, source, prefix=f"{name}.")
        else:
            values[key] = _coerce(value, kind, source, name)
    return cls(**values)


def _coerce(value: Any, kind: Any, source: str, name: str) -> Any:
    optional = isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind)
    if optional:
        if value is None:
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_INT:
            raise ConfigError(f"{source}: {name!r} is {short_value(value)}; expected an integer of at most {MAX_INT:,}")
        return value
    if kind is float and not isinstance(value, (bool, dict, list)):
        try:
            number = float(value)  # YAML 1.1 reads 1e-4 as a string.
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            if not math.isfinite(number):
                raise ConfigError(f"{source}: {name!r} is {short_value(value)}; expected a finite number")
            return number
    if kind is str and isinstance(value, str):
        return value
    expected = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[kind]
    or_null = " or null" if optional else ""
    raise ConfigError(f"{source}: {name!r} must be {expected}{or_null}, got {short_value(value)}")


def short_value(value: Any, limit: int = 60) -> str:
    """repr(value) cut to `limit` characters: a value may be huge (a YAML alias bomb, a 10**5-digit int)."""
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'} of {len(value)} items"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _check(cfg: Config, source: str) -> None:
    def fail(key: str, value: Any, allowed: str) -> None:
        raise ConfigError(f"{source}: {key!r} is {short_value(value)}; {allowed}")

    for key, allowed in CHOICES.items():
        value = _get(cfg, key)
        if value not in allowed:
            close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            fail(key, value, f"expected one of {', '.join(map(str, allowed))}"
                 + (f" (did you mean {close[0]!r}?)" if close else ""))
    for key, value in _flat_items(cfg):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if key in NON_NEGATIVE or key in ("beta1", "beta2"):
                if value < 0:
                    fail(key, value, "expected a value >= 0")
            elif key not in ("gen.n_downsample",) and value <= 0:
                fail(key, value, "expected a value > 0")
    if cfg.gen.n_downsample < 0:
        fail("gen.n_downsample", cfg.gen.n_downsample, "expected a value >= 0")
    for key, most in MAX_SIZES.items():  # Networks whose weights alone would not fit in any memory.
        if _get(cfg, key) > most:
            fail(key, _get(cfg, key), f"expected at most {most}")
    for key in ("beta1", "beta2", "ema_beta", "lat_dis_dropout"):
        if not _get(cfg, key) < 1:
            fail(key, _get(cfg, key), "expected a value < 1")
    if cfg.label_nc > MAX_CLASSES:
        fail("label_nc", cfg.label_nc, f"expected at most {MAX_CLASSES} classes")
    if cfg.use_instance and not cfg.label_nc:
        fail("use_instance", cfg.use_instance, "instance maps come with label maps; set label_nc too")
    if cfg.domains is not None:
        names = [d.strip() for d in cfg.domains.split(",")]
        least = 1 if cfg.attributes_file is not None else 2  # One binary attribute is enough; one domain is not.
        if len(names) < least or len(set(names)) != len(names) or any(
                not n or n in ("a", "b") or "/" in n or "\\" in n or n.startswith(".") for n in names):
            fail("domains", cfg.domains, f"expected {'one' if least == 1 else 'two'} or more distinct names, "
                 "comma-separated (not a or b)")
    if cfg.attributes_file is not None and cfg.method != "fader":
        fail("attributes_file", cfg.attributes_file, f"only method fader reads attributes (method is {cfg.method})")
    try:
        parse_policy(cfg.diffaug)
    except ValueError as e:
        fail("diffaug", cfg.diffaug, str(e))
    if cfg.compile and cfg.checkpoint_activations != "none":
        fail("checkpoint_activations", cfg.checkpoint_activations, "expected none with compile: true (compiled "
             "networks do not recompute their blocks; turn one of them off)")
    _check_sizes(cfg, fail)


def _check_sizes(cfg: Config, fail: Any) -> None:
    multiple = 2 ** cfg.gen.n_downsample
    for key in ("crop_image_height", "crop_image_width"):
        value = _get(cfg, key)
        if value % multiple:
            fail(key, value, f"expected a multiple of 2**gen.n_downsample = {multiple} so that images round-trip")
    for domain in "ab":
        size = cfg.size_of(domain)
        for key in ("crop_image_height", "crop_image_width"):
            if _get(cfg, key) > size:
                fail(key, _get(cfg, key), f"expected at most the resize size of domain {domain} ({size}); "
                     "raise new_size or lower the crop")


def _get(cfg: Config, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _flat_items(cfg: Any, prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            items += _flat_items(value, f"{prefix}{f.name}.")
        else:
            items.append((f"{prefix}{f.name}", value))
    return items


PATH_KEYS = ("data_root", "data_folder_train_a", "data_list_train_a", "data_folder_train_b", "data_list_train_b",
             "data_folder_test_a", "data_list_test_a", "data_folder_test_b", "data_list_test_b", "vgg_model_path",
             "global_from")


def resolve_paths(cfg: Config) -> Config:
    """The config with its relative file and folder paths made absolute (against the current directory, where
    the user meant them), so that a run's saved config works from any directory later."""
    changes = {key: str(Path(value).absolute()) for key in PATH_KEYS
               if isinstance(value := getattr(cfg, key), str) and not value.startswith(BUILTIN_PREFIX)
               and not Path(value).is_absolute()}
    return dataclasses.replace(cfg, **changes) if changes else cfg


CONFIG_HEADER = "# The resolved config of this run, written by munit train.\n"


def save_config(cfg: Config, path: Path) -> None:
    atomic_write_text(path, CONFIG_HEADER + yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def written_by_munit(path: Path) -> bool:
    """Whether `path` is a config that `save_config` wrote (and munit may overwrite)."""
    with open(path, "rb") as f:
        return f.read(len(CONFIG_HEADER)) == CONFIG_HEADER.encode()


FIXED_AFTER_START = ("method", "seed", "init", "input_dim_a", "input_dim_b", "unit_share_weights", "gen.", "dis.")


def resume_changes(saved: dict[str, Any], cfg: Config, source: str) -> list[str]:
    """Keys whose value differs from `saved` (the config a run started with), as "key old -> new". Raises
    ConfigError for keys that cannot change once a run has started (networks, seed, initialisation)."""
    old, new = dict(_flat_dict(saved)), dict(_flat_items(cfg))
    changed = [k for k in new if k in old and old[k] != new[k]]
    fixed = [k for k in changed if k in FIXED_AFTER_START or k.startswith(tuple(p for p in FIXED_AFTER_START
                                                                              if p.endswith(".")))]
    if fixed:
        listed = ", ".join(f"{k} ({short_value(old[k])} -> {short_value(new[k])})" for k in fixed)
        raise ConfigError(f"{source}: --resume with {listed}: cannot change in a run that has started; "
                          "undo the change or train into a new --output")
    return [f"{k} {short_value(old[k])} -> {short_value(new[k])}" for k in changed]


def _flat_dict(raw: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, value in raw.items():
        items += _flat_dict(value, f"{prefix}{key}.") if isinstance(value, dict) else [(f"{prefix}{key}", value)]
    return items
