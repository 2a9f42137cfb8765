"""Named, frozen evaluation protocols. Each draws its outputs deterministically from the seed, loads its
feature network before translating anything (a missing weight file stops it before any work), and returns
the metrics and the facts a reader needs to compare numbers: sample counts, pairing, style source, image
size, resize filter and feature network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from munit.data.domains import DomainImages
from munit.data.images import ImageDataset
from munit.errors import UsageError
from munit.eval import groundtruth
from munit.eval.domains import domain_metrics
from munit.eval.features import builtin_classifier, classifier_features, inception
from munit.eval.lpips import load_lpips
from munit.eval.metrics import (
    FeatureNet,
    conditional_inception_score,
    frechet_distance,
    inception_score,
    kernel_distance,
    pairs,
    pairwise_diversity,
)
from munit.inference import Model
from munit.visual import to_uint8


@dataclass
class EvalContext:
    model: Model
    direction: str
    sources: ImageDataset  # Test images of the source domain.
    targets: ImageDataset  # Test images of the target domain.
    target_train: ImageDataset | None = None  # Training images of the target domain (StarGAN v2's FID).
    seed: int = 0
    batch_size: int = 16
    progress: bool = True
    classifier: str | None = None  # A `munit train-classifier` file, used instead of the Inception.
    weights: str | None = None  # Folder or file of pretrained weights (LPIPS, Inception).
    download: bool = True
    builtin: bool = False  # The data is munit's built-in data (its true factors are known).
    domains: DomainImages | None = None  # A multi-domain model's test images of every domain ...
    domain_names: list[str] | None = None  # ... their names ...
    targets_only: list[str] | None = None  # ... and the target domains to measure.

    @property
    def target_domain(self) -> str:
        return self.direction.target


@dataclass
class Protocol:
    name: str
    description: str
    run: Callable[[EvalContext], dict]
    facts: dict = field(default_factory=dict)


def _check_styles(ctx: EvalContext, style_source: str) -> None:
    method = ctx.model.method
    if style_source == "reference" and not method.reference_guided:
        raise UsageError(f"method {method.name!r} cannot take the style of a reference image; "
                         "use a latent-guided protocol")


def translations(ctx: EvalContext, count: int | None, per_input: int, style_source: str = "latent",
                 desc: str = "translating") -> tuple[list[int], torch.Tensor]:
    """Outputs (inputs, per_input, C, H, W) in [-1, 1] of the first `count` test inputs (all when None).
    Latent: per_input codes from N(0, I), seeded per input; reference: per_input target test images drawn
    per input, whose style codes are used. A unimodal method's outputs repeat."""
    _check_styles(ctx, style_source)
    model, method = ctx.model, ctx.model.method
    n = len(ctx.sources) if count is None else min(count, len(ctx.sources))
    outputs = []
    with torch.no_grad():
        for i in tqdm(range(n), desc=desc, disable=not ctx.progress, unit="input"):
            gen = torch.Generator().manual_seed(ctx.seed * 1_000_003 + i)
            x = ctx.sources[i].unsqueeze(0).to(model.device).expand(per_input, -1, -1, -1)
            refs = None
            if style_source == "reference":
                picks = torch.randint(len(ctx.targets), (per_input,), generator=gen).tolist()
                refs = torch.stack([ctx.targets[j] for j in picks])
            style = method.styles(model.nets, per_input, model.device, gen, refs, ctx.target_domain)
            outputs.append(torch.cat([method.translate(model.nets, chunk_x, ctx.direction,
                                                       None if style is None else chunk_s)
                                      for chunk_x, chunk_s in _chunks(x, style, ctx.batch_size)]).cpu())
    return list(range(n)), torch.stack(outputs)


def _chunks(x: torch.Tensor, style: torch.Tensor | None, size: int):
    for start in range(0, x.shape[0], size):
        yield x[start:start + size], None if style is None else style[start:start + size]


def _stack(data: ImageDataset, count: int | None = None) -> torch.Tensor:
    n = len(data) if count is None else min(count, len(data))
    return torch.stack([data[i] for i in range(n)])


def _size_facts(outputs: torch.Tensor) -> dict:
    return {"image_size": list(outputs.shape[-2:])}


def _lpips_protocol(count: int | None, per_input: int, pairing: str, style_source: str):
    def run(ctx: EvalContext) -> dict:
        lpips = load_lpips(ctx.weights, ctx.download).to(ctx.model.device)
        _, outputs = translations(ctx, count, per_input, style_source)
        with torch.no_grad():
            distances = torch.cat([pairwise_diversity(o.to(ctx.model.device), lpips, pairing).cpu() for o in outputs])
        return {"metrics": {"lpips": float(distances.mean()), "lpips_std": float(distances.std())},
                "num_inputs": outputs.shape[0], "outputs_per_input": per_input, "pairing": pairing,
                "pairs_per_input": len(pairs(per_input, pairing)), "distances": distances.numel(),
                "style_source": style_source, "feature_network": "LPIPS v0.1 AlexNet",
                "resize_filter": "none (outputs at the model's size)", **_size_facts(outputs)}
    return run


def _realism_features(ctx: EvalContext) -> FeatureNet:
    if ctx.classifier:
        return classifier_features(ctx.classifier, device=ctx.model.device)
    return inception("2048", ctx.weights, ctx.download, ctx.model.device)


def _resize_filter(features: FeatureNet) -> str:
    return ("bilinear to 299 inside the Inception (torch-fidelity)" if features.name.startswith("inception")
            else "bilinear, antialiased, to the classifier's size")


def _fid_protocol(per_input: int, real_split: str):
    def run(ctx: EvalContext) -> dict:
        features = _realism_features(ctx)
        _, outputs = translations(ctx, None, per_input)
        fakes = outputs.flatten(0, 1)
        reals_data = ctx.target_train if real_split == "train" else ctx.targets
        if reals_data is None:
            raise UsageError(f"protocol needs the target domain's {real_split} images")
        reals = _stack(reals_data)
        with torch.no_grad():
            fid = frechet_distance(features, reals.to(ctx.model.device), fakes.to(ctx.model.device))
            kid_mean, kid_std = kernel_distance(features, reals.to(ctx.model.device), fakes.to(ctx.model.device))
        return {"metrics": {"fid": fid, "kid": kid_mean, "kid_std": kid_std},
                "num_inputs": outputs.shape[0], "outputs_per_input": per_input, "num_fakes": fakes.shape[0],
                "num_reals": reals.shape[0], "real_split": real_split, "style_source": "latent",
                "feature_network": features.name, "resize_filter": _resize_filter(features), **_size_facts(outputs)}
    return run


def _is_protocol(count: int, per_input: int):
    def run(ctx: EvalContext) -> dict:
        if ctx.classifier:
            logits_net = classifier_features(ctx.classifier, "logits", ctx.model.device)
        else:
            logits_net = inception("logits_unbiased", ctx.weights, ctx.download, ctx.model.device)
        _, outputs = translations(ctx, count, per_input)
        with torch.no_grad():
            logits = torch.stack([torch.cat([logits_net(c.to(ctx.model.device)).cpu()
                                             for c in o.split(ctx.batch_size)]) for o in outputs])
        return {"metrics": {"is": inception_score(logits.flatten(0, 1)), "cis": conditional_inception_score(logits)},
                "num_inputs": outputs.shape[0], "outputs_per_input": per_input, "style_source": "latent",
                "feature_network": logits_net.name, "resize_filter": _resize_filter(logits_net),
                **_size_facts(outputs)}
    return run


def _builtin_protocol(count: int, per_input: int):
    def run(ctx: EvalContext) -> dict:
        if not ctx.builtin:
            raise UsageError("protocol 'builtin' needs the built-in data (--data builtin:shapes): it reads "
                             "the true shape and hue of every image")
        if ctx.model.method.multi_domain:
            raise UsageError("protocol 'builtin' measures two-domain models; use 'builtin-domains' for "
                             f"{ctx.model.method.name}")
        target = ctx.target_domain
        size = ctx.sources.size
        features = (classifier_features(ctx.classifier, device=ctx.model.device) if ctx.classifier
                    else builtin_classifier(target, size, ctx.model.device, ctx.progress))
        _, single = translations(ctx, None, 1, desc="content")
        single = single[:, 0]
        images = [_hwc(t) for t in single]
        source_factors = [ctx.sources.factors(i) for i in range(len(images))]
        metrics = {"content_iou": groundtruth.content_iou(images, source_factors, target)}
        reals = _stack(ctx.targets)
        with torch.no_grad():
            metrics["realism_fd"] = frechet_distance(features, reals.to(ctx.model.device), single.to(ctx.model.device))
        facts = {"num_inputs": len(images), "outputs_per_input": 1}
        if target == "b":  # A unimodal method repeats its one output: it covers one mode per input.
            _, outputs = translations(ctx, count, per_input, desc="styles")
            metrics.update(groundtruth.mode_coverage([[_hwc(t) for t in o] for o in outputs]))
            facts.update(coverage_inputs=outputs.shape[0], coverage_outputs_per_input=per_input)
        if target == "b" and ctx.model.method.reference_guided:
            refs_idx, ref_outputs = _reference_pairs(ctx, count)
            metrics.update(groundtruth.reference_fidelity([_hwc(t) for t in ref_outputs],
                                                          [ctx.targets.factors(j) for j in refs_idx]))
            facts["reference_pairs"] = len(refs_idx)
        return {"metrics": metrics, **facts, "feature_network": features.name,
                "resize_filter": "bilinear, antialiased, to the classifier's size", **_size_facts(single)}
    return run


def _builtin_domains_protocol(per_domain: int):
    def run(ctx: EvalContext) -> dict:
        if ctx.domains is None or not ctx.builtin:
            raise UsageError("protocol 'builtin-domains' measures a multi-domain model (StarGAN v2) on the built-in "
                             "data (--data builtin:shapes)")
        result = domain_metrics(ctx.model.method, ctx.model.nets, ctx.domains, ctx.domain_names, per_domain,
                                ctx.seed, targets=ctx.targets_only)
        return {"metrics": result["mean"], "pairs": result["pairs"], "inputs_per_pair": result["inputs_per_pair"],
                "hue_reader": "munit.eval.groundtruth (no network)"}
    return run


def _reference_pairs(ctx: EvalContext, count: int) -> tuple[list[int], torch.Tensor]:
    """Input i translated with the style of target test image (i * 7 + 3) mod N (a fixed derangement-like
    pairing, so that each input meets a reference of another content)."""
    model, method = ctx.model, ctx.model.method
    n = min(count, len(ctx.sources))
    refs_idx = [(i * 7 + 3) % len(ctx.targets) for i in range(n)]
    outs = []
    with torch.no_grad():
        for start in range(0, n, ctx.batch_size):
            idx = range(start, min(start + ctx.batch_size, n))
            x = torch.stack([ctx.sources[i] for i in idx]).to(model.device)
            refs = torch.stack([ctx.targets[refs_idx[i]] for i in idx]).to(model.device)
            style = method.encode_style(model.nets, refs, ctx.target_domain)
            outs.append(method.translate(model.nets, x, ctx.direction, style).cpu())
    return refs_idx, torch.cat(outs)


def _hwc(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    return to_uint8(image.unsqueeze(0))[0]


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("lpips-munit", "LPIPS diversity as MUNIT/BicycleGAN: 100 inputs x 20 random styles, the 19 "
             "consecutive pairs of each (1,900 distances)", _lpips_protocol(100, 20, "consecutive", "latent")),
    Protocol("lpips-munit-ref", "as lpips-munit with the styles of 20 random target test images",
             _lpips_protocol(100, 20, "consecutive", "reference")),
    Protocol("lpips-starganv2", "LPIPS diversity as StarGAN v2: every test input x 10 random styles, all 45 "
             "pairs", _lpips_protocol(None, 10, "all", "latent")),
    Protocol("lpips-starganv2-ref", "as lpips-starganv2 with the styles of 10 random target test images",
             _lpips_protocol(None, 10, "all", "reference")),
    Protocol("fid", "FID and KID: one random-style translation of every test input against the target test "
             "images", _fid_protocol(1, "test")),
    Protocol("fid-starganv2", "FID and KID as StarGAN v2: 10 random-style translations of every test input "
             "against the target training images", _fid_protocol(10, "train")),
    Protocol("is-cis", "Inception Score and Conditional Inception Score (MUNIT paper, Sec. 5.1): 100 inputs x "
             "20 random styles, class probabilities of --classifier (or the Inception)", _is_protocol(100, 20)),
    Protocol("builtin", "ground truth on the built-in data: content IoU, hue-mode coverage of 100 inputs x 20 "
             "random styles, reference fidelity on 100 pairs, realism (Frechet distance in a classifier's "
             "features)", _builtin_protocol(100, 20)),
    Protocol("builtin-domains", "multi-domain models on the built-in five hue domains: the share of latent- and "
             "reference-guided outputs in the target domain, content IoU and diversity, 20 inputs per ordered "
             "pair of domains", _builtin_domains_protocol(20)),
)}


def describe() -> str:
    return "\n".join(f"  {p.name:<20} {p.description}" for p in PROTOCOLS.values())


def protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        import difflib

        close = difflib.get_close_matches(name, PROTOCOLS, n=1)
        raise UsageError(f"unknown protocol {name!r}; expected one of {', '.join(PROTOCOLS)}"
                         + (f" (did you mean {close[0]!r}?)" if close else ""))
    return PROTOCOLS[name]
