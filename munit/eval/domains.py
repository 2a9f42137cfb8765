"""Translation between many domains measured on the built-in five-domain data (its hue modes), averaged over
every ordered pair of distinct domains as StarGAN v2's evaluation averages its metrics over domain pairs.

For each source domain, `per_domain` test images are translated into every other domain once with a random
code (latent-guided; a method without codes, Fader networks, translates its one way) and, for a
reference-guided method, once with the style of a test image of the target domain.
- `latent_accuracy`, `reference_accuracy`: the share of outputs whose hue mode (munit.eval.groundtruth, no
  network) is the target domain's;
- `content_iou`: IoU between the output's shape region and the input's true shape (latent-guided outputs);
- `diversity` (multimodal methods): mean L1 distance between two latent-guided outputs of one input and
  target (images in [-1, 1]).
"""

from __future__ import annotations

import numpy as np
import torch

from munit.data.builtin import HUE_MODES
from munit.data.domains import BUILTIN_DOMAINS, DomainImages
from munit.eval import groundtruth
from munit.visual import to_uint8


@torch.no_grad()
def domain_metrics(method, nets, data: DomainImages, names: list[str], per_domain: int = 20, seed: int = 0,
                   translate_pair=None, targets: list[str] | None = None) -> dict[str, float]:
    """The metrics above for a multi-domain model, by pair ("red->blue": {...}) and averaged ("mean"), into
    every domain or into `targets`.
    `translate_pair(x, source, target, style_source, generator)` translates (N, C, H, W) images; default: the
    multi-domain method's own (any source into the target)."""
    modes = {n: BUILTIN_DOMAINS.index(n) for n in names}
    if len(modes) != len(names) or any(n not in BUILTIN_DOMAINS for n in names):
        raise ValueError(f"expected built-in domains ({', '.join(BUILTIN_DOMAINS)}), got {names}")
    translate_pair = translate_pair or _multi_domain(method, nets, data, names)
    device = next(nets.parameters()).device
    by_pair = {}
    for s, source in enumerate(names):
        part = data.parts[s]
        count = min(per_domain, len(part))
        x = torch.stack([part[i] for i in range(count)]).to(device)
        factors = [part.factors(i) for i in range(count)]
        for t, target in enumerate(names):
            if target == source or (targets is not None and target not in targets):
                continue
            gen = torch.Generator().manual_seed(seed * 1_000_003 + s * 101 + t)  # Each pair's own draws.
            latent = translate_pair(x, source, target, "latent", gen)
            want = modes[target]
            images = list(to_uint8(latent))
            pair = by_pair[f"{source}->{target}"] = {"latent_accuracy": _accuracy(images, want),
                                                     "content_iou": groundtruth.content_iou(images, factors, "b")}
            if method.reference_guided:
                pair["reference_accuracy"] = _accuracy(list(to_uint8(translate_pair(x, source, target, "reference",
                                                                                    gen))), want)
            if method.multimodal:
                pair["diversity"] = float((latent - translate_pair(x, source, target, "latent", gen)).abs().mean())
    mean = {key: float(np.mean([m[key] for m in by_pair.values()])) for key in next(iter(by_pair.values()))}
    return {"mean": mean, "pairs": by_pair, "inputs_per_pair": count}


def _accuracy(images: list[np.ndarray], mode: int) -> float:
    assert 0 <= mode < len(HUE_MODES)
    return float(np.mean([groundtruth.hue_mode(groundtruth.fill_hue(img)) == mode for img in images]))


def _multi_domain(method, nets, data: DomainImages, names: list[str]):
    def translate(x, source, target, style_source, gen):
        if style_source == "latent":
            style = method.styles(nets, len(x), x.device, gen, domain=target)
        else:
            part = data.parts[names.index(target)]
            picks = torch.randint(len(part), (len(x),), generator=gen).tolist()
            refs = torch.stack([part[i] for i in picks]).to(x.device)
            style = method.styles(nets, len(x), x.device, references=refs, domain=target)
        return method.translate(nets, x, target, style)
    return translate
