"""Feature networks for the metrics: the standard FID Inception (via torchmetrics and torch-fidelity, an
optional extra) and munit's own classifier."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from munit.eval.classifier import load_classifier
from munit.eval.metrics import FeatureNet
from munit.weights import WeightsMissing, find_weights

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"


def inception_input(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> [0, 255] uint8 RGB, as the FID Inception expects (it resizes to 299 itself)."""
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return ((x[:, :3] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def inception(output: str = "2048", path: str | Path | None = None, download: bool = True,
              device: torch.device | str = "cpu") -> FeatureNet:
    """The TF-ported Inception v3 every FID tool uses; `output` "2048" (pool features, FID/KID) or
    "logits_unbiased" (IS)."""
    if importlib.util.find_spec("torch_fidelity") is None:
        raise WeightsMissing("FID/KID/IS with the standard Inception need torch-fidelity: "
                             "pip install 'munit[metrics]' (it pulls torchvision); or use --classifier for "
                             "features of a classifier trained with `munit train-classifier`")
    from torchmetrics.image.fid import NoTrainInceptionV3

    weights = find_weights(INCEPTION_FILE, INCEPTION_URL, "FID/KID/IS", path, "MUNIT_INCEPTION_WEIGHTS", download)
    net = NoTrainInceptionV3(name="inception-v3-compat", features_list=[output],
                             feature_extractor_weights_path=str(weights)).to(device)
    size = 2048 if output == "2048" else 1008
    return FeatureNet(lambda x: net(inception_input(x)).reshape(x.shape[0], -1), size,
                      f"inception-v3-compat ({weights})")


def classifier_features(path: str | Path, output: str = "features", device: torch.device | str = "cpu"
                        ) -> FeatureNet:
    """Pooled features ("features") or class logits ("logits") of a `munit train-classifier` model."""
    model, classes = load_classifier(path, device)
    if output == "logits":
        return FeatureNet(model, len(classes), f"munit classifier logits ({path})")
    return FeatureNet(model.features, model.num_features, f"munit classifier features ({path})")


def builtin_classifier(domain: str, size: int, device: torch.device | str = "cpu", progress: bool = True,
                       cache: str | Path | None = None) -> FeatureNet:
    """Features of a classifier of the built-in data's domain at `size` px (shape, and hue mode in B),
    trained on first use (seeded, about a minute on 2 CPU cores) and cached."""
    from munit.eval.classifier import builtin_labelled, save_classifier, train_classifier

    cache = Path(cache) if cache else Path(torch.hub.get_dir()).parent / "munit" / "classifiers"
    path = cache / f"builtin_shapes_{domain}_{size}px.pt"
    if not path.is_file():
        train = builtin_labelled(domain, "train", 4000, size)
        test = builtin_labelled(domain, "test", 400, size)
        model, acc = train_classifier(train, test, size=size, progress=progress)
        save_classifier(model, train.classes, path, acc)
    return classifier_features(path, device=device)
