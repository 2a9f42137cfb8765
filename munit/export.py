"""`munit export`: a trained model's graphs as ONNX or TorchScript files with dynamic batch and image size.

MUNIT gives, per domain d, `content_encoder_d` (image -> content code), `style_encoder_d` (image ->
(N, style_dim)) and `decoder_d` ((content code, style) -> image); translating a2b with style s is
decoder_b(content_encoder_a(x), s), and a reference's style is style_encoder_b(reference). Other methods
give one `translate_<direction>` graph each (with a style input when multimodal). Images are (N, C, H, W)
floats in [-1, 1] with H and W multiples of 2**gen.n_downsample (and at least 16); pix2pix and BicycleGAN
take their training crop size only. `export.json` lists every graph's inputs and outputs.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

from munit.errors import UsageError
from munit.inference import Model
from munit.utils import MissingExtra, atomic_write_text

FORMATS = ("onnx", "torchscript")
MIN_SIDE, MAX_SIDE = 16, 4096


def example_inputs(model: Model, names: tuple[str, ...], batch: int = 2, side: int = 32) -> dict[str, torch.Tensor]:
    """Inputs of the given names at a size every network accepts (side a multiple of 2**n_downsample; the
    training crop for methods of fixed size)."""
    cfg, gen = model.cfg, torch.Generator().manual_seed(0)
    multiple = model.method.size_multiple()
    side = cfg.crop_image_height if model.method.fixed_size else max(side, MIN_SIDE) // multiple * multiple
    content = None
    out = {}
    for name in names:
        if name.startswith("image_"):
            out[name] = torch.rand(batch, cfg.channels(name[-1]), side, side, generator=gen) * 2 - 1
        elif name == "style":
            out[name] = torch.randn(batch, cfg.gen.style_dim, generator=gen)
        elif name == "codes":  # pix2pixHD: a code in [0, 1) per class.
            out[name] = model.method.random_styles(batch, torch.device("cpu"), gen).flatten(1)
        elif name == "attributes":  # Fader: one slider per domain, in [0, 1].
            out[name] = torch.rand(batch, len(model.method.domains), generator=gen)
        elif name == "content":
            image = torch.zeros(1, cfg.channels("a"), side, side, device=model.device)
            content = model.method.encode_content(model.nets, image, "a")
            out[name] = torch.randn(batch, *content.shape[1:], generator=gen)
    return {k: v.to(model.device) for k, v in out.items()}


def export(model: Model, output: str | Path, fmt: str) -> list[Path]:
    """Write each graph of `model.method.export_graphs` to `output` as <name>.onnx or <name>.pt, and
    export.json; returns the paths written."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    graphs = model.method.export_graphs(model.nets)
    written, manifest = [], {"format": fmt, "method": model.cfg.method, "iteration": model.iteration,
                             "image_range": [-1, 1], "size_multiple": model.method.size_multiple(),
                             "min_side": MIN_SIDE, "graphs": {}}
    if model.cfg.label_nc:  # image_a is a one-hot label map (munit.data.labels.label_tensor), not an image.
        manifest["label_map"] = {"classes": model.cfg.label_nc, "instance_boundaries": model.cfg.use_instance,
                                 "channels": model.cfg.channels("a"), "values": [0, 1]}
    if model.method.multi_domain:  # The order of a style head's or an attribute slider's domains.
        manifest["domains"] = list(model.method.domains)
    for name, (module, inputs) in graphs.items():
        module = module.eval()
        args = example_inputs(model, inputs)
        path = output / f"{name}.{'onnx' if fmt == 'onnx' else 'pt'}"
        with torch.no_grad():
            multiple = 0 if model.method.fixed_size else model.method.size_multiple()
            (_onnx if fmt == "onnx" else _torchscript)(module, args, path, multiple)
        manifest["graphs"][name] = {"file": path.name, "inputs": list(inputs), "output": "output"}
        written.append(path)
    manifest_path = output / "export.json"
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
    return [*written, manifest_path]


def _dynamic(args: dict[str, torch.Tensor], multiple: int) -> dict[str, dict]:
    """Batch is free; height and width too (as multiples of `multiple`) unless `multiple` is 0."""
    batch = torch.export.Dim("batch", min=1, max=1024)
    if not multiple:
        return {name: {0: batch} for name in args}
    height = torch.export.Dim("height", min=MIN_SIDE // multiple, max=MAX_SIDE // multiple)
    width = torch.export.Dim("width", min=MIN_SIDE // multiple, max=MAX_SIDE // multiple)
    shapes = {}
    for name in args:
        if name.startswith("image_"):
            shapes[name] = {0: batch, 2: multiple * height, 3: multiple * width}
        elif name == "content":
            shapes[name] = {0: batch, 2: height, 3: width}
        else:
            shapes[name] = {0: batch}
    return shapes


def _onnx(module: torch.nn.Module, args: dict[str, torch.Tensor], path: Path, multiple: int) -> None:
    try:
        import onnxscript  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise MissingExtra("ONNX export needs onnx and onnxscript: pip install 'munit[export]'") from None
    check_room(module, path)
    quiet = contextlib.redirect_stdout(io.StringIO())
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # Notes about torchvision ops it need not register.
    with warnings.catch_warnings(), quiet, tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        warnings.simplefilter("ignore")
        tmp_path = Path(tmp) / path.name
        torch.onnx.export(module, tuple(args.values()), str(tmp_path), dynamo=True, input_names=list(args),
                          output_names=["output"], dynamic_shapes=tuple(_dynamic(args, multiple).values()),
                          verbose=False,
                          external_data=False)
        tmp_path.replace(path)


def check_room(module: torch.nn.Module, path: Path) -> None:
    """Refuse to write `module` where its file would not fit: TorchScript's writer aborts the process (a C++
    abort, rc 134) on a full disk, leaving its temporary folder behind."""
    tensors = [*module.parameters(), *module.buffers()]
    needed = sum(t.numel() * t.element_size() for t in tensors) * 11 // 10 + 2 ** 16  # Weights, code, zip.
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise OSError(errno.ENOSPC, f"No space left on device: the graph needs about {needed / 2 ** 20:.2f} MB, "
                      f"{free / 2 ** 20:.2f} MB free", str(path))


def _torchscript(module: torch.nn.Module, args: dict[str, torch.Tensor], path: Path, multiple: int) -> None:
    """Traced: the graph holds no Python control flow, so batch and image size stay free."""
    check_room(module, path)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, tuple(args.values()), check_trace=False)
        tmp_path = Path(tmp) / path.name
        torch.jit.save(traced, str(tmp_path))
        tmp_path.replace(path)
