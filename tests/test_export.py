"""ONNX and TorchScript exports reproduce PyTorch's outputs at other batch and image sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from munit.cli import main
from munit.inference import load_model
from munit.training.loop import train

from helpers import export_inputs, tiny_config

ort = pytest.importorskip("onnxruntime", reason="install the export extra: pip install 'munit[export]'")


@pytest.fixture(scope="module", params=["munit", "cyclegan_noise"])
def run(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    train(tiny_config(method=request.param, max_iter=1), root / "run", torch.device("cpu"), progress=False)
    return root / "run"


@pytest.mark.parametrize("fmt", ["onnx"])  # TorchScript: every method, tests/test_registry.py.
def test_export_matches_pytorch_at_other_sizes(run, tmp_path, fmt, capsys):
    assert main(["export", str(run), "--format", fmt, "--output", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "export.json").read_text())
    model = load_model(run)
    graphs = model.method.export_graphs(model.nets)
    assert set(manifest["graphs"]) == set(graphs)
    if model.cfg.method == "munit":
        assert set(graphs) == {f"{part}_{d}" for part in ("content_encoder", "style_encoder", "decoder") for d in "ab"}
    for name, (module, names) in graphs.items():
        sizes = ((1, 32, 32), (3, 32, 32) if model.method.fixed_size else (3, 48, 40))  # Exported: 2 x 32 x 32.
        for batch, height, width in sizes:
            args = export_inputs(names, model, batch, height, width)
            with torch.no_grad():
                expected = module(*args.values())
            file = tmp_path / manifest["graphs"][name]["file"]
            if fmt == "onnx":
                session = ort.InferenceSession(str(file))
                got = session.run(None, {k: v.numpy() for k, v in args.items()})[0]
            else:
                got = torch.jit.load(str(file))(*args.values()).numpy()
            assert got.shape == tuple(expected.shape), name
            np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=1e-4,
                                       err_msg=f"{name} at {batch}x{height}x{width}")
