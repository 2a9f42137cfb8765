"""The model card a saved model carries (README.md, as the Hugging Face Hub reads it): YAML metadata, then
what the model is, how it was trained and what it measured. Nothing reads it back: a folder loads from
config.json and model.safetensors alone."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import yaml

from munit.config import Config

PAPERS = {
    "munit": "Huang, Liu, Belongie, Kautz. Multimodal Unsupervised Image-to-Image Translation. ECCV 2018",
    "unit": "Liu, Breuel, Kautz. Unsupervised Image-to-Image Translation Networks. NeurIPS 2017",
    "cyclegan": "Zhu, Park, Isola, Efros. Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial "
                "Networks. ICCV 2017",
    "cyclegan_noise": "CycleGAN with a noise input, the baseline of Huang et al., MUNIT, ECCV 2018",
    "pix2pix": "Isola, Zhu, Zhou, Efros. Image-to-Image Translation with Conditional Adversarial Networks. CVPR 2017",
    "bicyclegan": "Zhu et al. Toward Multimodal Image-to-Image Translation. NeurIPS 2017",
    "discogan": "Kim et al. Learning to Discover Cross-Domain Relations with Generative Adversarial Networks. "
                "ICML 2017",
    "cogan": "Liu, Tuzel. Coupled Generative Adversarial Networks. NeurIPS 2016",
    "gcgan": "Fu et al. Geometry-Consistent Generative Adversarial Networks for One-Sided Unsupervised Domain "
             "Mapping. CVPR 2019",
    "cut": "Park, Efros, Zhang, Zhu. Contrastive Learning for Unpaired Image-to-Image Translation. ECCV 2020",
    "pix2pixhd": "Wang et al. High-Resolution Image Synthesis and Semantic Manipulation with Conditional GANs. "
                 "CVPR 2018",
    "spade": "Park, Liu, Wang, Zhu. Semantic Image Synthesis with Spatially-Adaptive Normalization. CVPR 2019",
    "fader": "Lample et al. Fader Networks: Manipulating Images by Sliding Attributes. NeurIPS 2017",
    "stargan_v2": "Choi, Uh, Yoo, Ha. StarGAN v2: Diverse Image Synthesis for Multiple Domains. CVPR 2020",
}
SAMPLE = "sample.png"


def run_folder(source: Path) -> Path | None:
    """The run folder a checkpoint came from (<run>/checkpoints/ckpt_*.pt), if it did."""
    return source.parent.parent if source.parent.name == "checkpoints" else None


def evaluations(run: Path | None) -> dict[str, dict]:
    """The last `munit evaluate` record of each protocol that the run keeps (evaluations.jsonl)."""
    found = {}
    path = run / "evaluations.jsonl" if run is not None else None
    if path is not None and path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
                found[str(record["protocol"])] = record
            except (ValueError, KeyError, TypeError):
                continue
    return found


def training_summary(run: Path | None) -> dict:
    """Training time from the run's log (iterations over their measured rates) and its machine."""
    summary = {}
    if run is None:
        return summary
    log = run / "log.jsonl"
    if log.is_file():
        seconds, last = 0.0, 0
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
                seconds += (entry["iteration"] - last) / max(float(entry["it_per_s"]), 1e-9)
                last = entry["iteration"]
            except (ValueError, KeyError, TypeError):
                continue
        if seconds:
            summary["training_minutes"] = round(seconds / 60, 1)
    machine = run / "machine.json"
    if machine.is_file():
        try:
            summary["machine"] = json.loads(machine.read_text())
        except ValueError:
            pass
    return summary


def model_card(cfg: Config, iteration: int, source: Path, license: str | None) -> str:  # noqa: A002
    """README.md of a saved model: Hub metadata (library, licence if given, tags, the method, iterations,
    metrics) and a body with the paper, data, training, the config, the command that reproduces it, the
    run's evaluations and its sample grid (when saved beside it)."""
    run = run_folder(source)
    records, summary = evaluations(run), training_summary(run)
    meta = {"library_name": "munit", "tags": ["munit", "image-to-image", cfg.method], "pipeline_tag": "image-to-image",
            "munit": {"method": cfg.method, "iterations": iteration,
                      "metrics": {name: rec.get("metrics", {}) for name, rec in records.items()}}}
    if license is None:
        warnings.warn("save_pretrained: no licence given (license=...); the model card leaves it out, and the Hub "
                      "shows none until you set it", stacklevel=3)
    else:
        meta = {"license": license, **meta}
    data = cfg.data_root or "(not recorded)"
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "",
             f"# {cfg.method} model trained with munit", "",
             f"- **Method**: `{cfg.method}`: {PAPERS.get(cfg.method, 'see munit docs/methods.md')}.",
             f"- **Data**: `{data}`" + _split_sizes(cfg) + ".",
             f"- **Training**: {iteration:,} iterations at {cfg.crop_image_height}x{cfg.crop_image_width} px, batch "
             f"{cfg.batch_size}" + (f", {summary['training_minutes']} min" if "training_minutes" in summary else "")
             + (f" on {_machine(summary['machine'])}" if "machine" in summary else "") + ".",
             "", "## Use", "", "```python", "from munit import Translator", "",
             "translator = Translator.from_pretrained(\"<this folder or repo>\")",
             "outputs = translator.translate(image)  # a PIL image of the source domain", "```", "",
             "## Reproduce", "", "With the config below saved as `config.yaml`:", "", "```sh",
             f"munit train --config config.yaml --output runs/{cfg.method}", "```", "", "```yaml",
             yaml.safe_dump(cfg.to_dict(), sort_keys=False).strip(), "```", ""]
    if records:
        lines += ["## Evaluation", "", "The run's last `munit evaluate` of each protocol:", "",
                  "| protocol | direction | metrics |", "|---|---|---|"]
        for name, rec in records.items():
            metrics = ", ".join(f"{k} {_number(v)}" for k, v in rec.get("metrics", {}).items())
            lines.append(f"| `{name}` | {rec.get('direction', '')} | {metrics} |")
        lines.append("")
    if run is not None and latest_grid(run) is not None:
        lines += ["## Samples", "", f"![test inputs, reconstructions and translations]({SAMPLE})", ""]
    return "\n".join(lines)


def latest_grid(run: Path) -> Path | None:
    grids = sorted((run / "images").glob("*_test_*.png"))
    return grids[-1] if grids else None


def _split_sizes(cfg: Config) -> str:
    if cfg.data_root and cfg.data_root.startswith("builtin:"):
        return f" (built-in: {cfg.builtin_train_size} training and {cfg.builtin_test_size} test images per domain)"
    root = Path(cfg.data_root) if cfg.data_root else None
    if root is None or not root.is_dir():
        return ""
    counts = {d.name: sum(1 for f in d.iterdir() if f.is_file()) for d in sorted(root.iterdir()) if d.is_dir()}
    return " (" + ", ".join(f"{name}: {n}" for name, n in counts.items()) + ")" if counts else ""


def _machine(info: dict) -> str:
    return ", ".join(str(info[k]) for k in ("device", "processor", "torch") if info.get(k))


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
