"""The `munit` command line."""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

from munit.errors import UsageError, UserError
from munit.interop.nvlabs_munit import TRAINERS as REFERENCE_TRAINERS
from munit.methods import METHODS, load_config
from munit.tiling import DEFAULT_TILE
from munit.utils import pick_device

USER_ERRORS = (UserError, OSError)  # OSError: a full disk, permissions, a vanished mount.


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        args.run(args)
    except USER_ERRORS as e:
        print(f"munit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = "; the latest checkpoint is intact, continue with --resume" if args.run is _train else ""
        print(f"munit: interrupted{hint}", file=sys.stderr)
        return 130
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"munit: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="munit", description="Multimodal unsupervised image-to-image "
                                     "translation (MUNIT) and its baselines.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("--config", required=True, help="YAML config (see configs/)")
    p.add_argument("--output", help="run directory (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --output from its latest checkpoint")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: cuda if available, else cpu)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set max_iter=2000 --set gen.dim=32 (repeatable)")
    p.add_argument("--from-reference", metavar="DIR",
                   help="start from a NVlabs/MUNIT checkpoint folder (gen_*.pt, dis_*.pt, optimizer.pt)")
    p.add_argument("--nproc", type=_positive, default=1,
                   help="processes (devices) on this machine; >1 starts them with torchrun (see README)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=_train)

    p = sub.add_parser("translate", help="translate images with a trained model")
    p.add_argument("--checkpoint", required=True,
                   help="run directory or checkpoint file; a CycleGAN/pix2pix/CUT .pth generator; a released "
                        "model's name (cyclegan/horse2zebra, see docs/coming-from-cyclegan.md); or a NVlabs/MUNIT "
                        "gen_*.pt file with --config")
    p.add_argument("--config", help="YAML config of a NVlabs/MUNIT checkpoint")
    p.add_argument("--method", choices=REFERENCE_TRAINERS,
                   help="trainer of a NVlabs/MUNIT checkpoint (its --trainer MUNIT|UNIT; default: the config's)")
    p.add_argument("--input", required=True, help="image file or folder of images")
    p.add_argument("--output", required=True, help="folder for the translations")
    p.add_argument("--direction", help="a2b (default) or b2a; for a multi-domain method (StarGAN v2) the "
                   "target domain's name (default: its first domain)")
    p.add_argument("--num-styles", type=_positive,
                   help="random styles per input, for multimodal methods (default 10)")
    p.add_argument("--style", help="reference image of the target domain whose style to copy")
    p.add_argument("--seed", type=_seed, default=10, help="seed of the random styles (default 10)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--no-ema", action="store_true", help="use the trained generators, not their EMA")
    p.add_argument("--test-noise", action="store_true",
                   help="pix2pix: batch statistics and dropout on, as the official test.py without --eval")
    p.add_argument("--full-size", action="store_true",
                   help="translate each image at its own size (up to 64 megapixels) in overlapping tiles that "
                        "share its style code, in memory bounded by the tile; default: resized to the training size")
    p.add_argument("--tile", type=_positive,
                   help=f"--full-size: tile side in px (default {DEFAULT_TILE})")
    p.add_argument("--overlap", type=int,
                   help="--full-size: least overlap of neighbouring tiles in px, blended linearly (default: a "
                        "quarter of the tile)")
    p.set_defaults(run=_translate)

    p = sub.add_parser("sample", help="write sample grids of a run on its test data")
    p.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    p.add_argument("--output", help="folder for the grids (default: <run>/samples)")
    p.add_argument("--num-inputs", type=_grid_size, default=8, help="test inputs per grid (default 8, at most 64)")
    p.add_argument("--num-styles", type=_grid_size, default=5, help="random styles per input (default 5, at most 64)")
    p.add_argument("--num-refs", type=_grid_size, default=4, help="reference images per grid (default 4, at most 64)")
    p.add_argument("--seed", type=_seed, default=10, help="seed of the random styles (default 10)")
    p.add_argument("--codes", choices=("spread", "random"), default="spread",
                   help="spread (default): the styles, of 64 random draws, whose outputs differ most; random: "
                   "the first draws")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps")
    p.set_defaults(run=_sample)

    from munit.eval.protocols import describe

    p = sub.add_parser("evaluate", help="measure a trained model with a named protocol (LPIPS, FID/KID, IS/CIS, "
                       "built-in ground truth)", formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="protocols:\n" + describe())
    p.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    p.add_argument("--protocol", required=True, nargs="+", metavar="NAME", help="one or more protocols (below)")
    p.add_argument("--data", help="data_root whose test split to use: folder or builtin:shapes (default: the run's)")
    p.add_argument("--direction", help="a2b (default) or b2a; a multi-domain model: a target domain (default: "
                   "every ordered pair of domains, averaged)")
    p.add_argument("--out", help="append each result as one JSON line to this file")
    p.add_argument("--seed", type=_seed, default=0, help="seed of styles and references (default 0)")
    p.add_argument("--classifier", help="a `munit train-classifier` file: its features replace the Inception's "
                   "for fid/fid-starganv2/builtin, its classes for is-cis")
    p.add_argument("--weights", help="folder (or file) with pretrained weights: LPIPS's alexnet-owt-7be5be79.pth "
                   "and alex.pth, the FID Inception's weights-inception-2015-12-05-6726825d.pth")
    p.add_argument("--no-download", action="store_true", help="never download missing weights")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("train-classifier", help="train the small classifier used by is-cis and for realism")
    p.add_argument("--data", required=True, help="folder with one subfolder of images per class, or builtin:shapes")
    p.add_argument("--domain", choices=("a", "b"), default="b", help="built-in data: which domain (default b)")
    p.add_argument("--test", help="folder like --data to report accuracy on (built-in: its test split)")
    p.add_argument("--output", required=True, help="file to write (.pt, loaded with weights_only)")
    p.add_argument("--size", type=_positive, default=64, help="image side the classifier sees (default 64)")
    p.add_argument("--iterations", type=_positive, default=1500, help="training iterations (default 1500)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=_train_classifier)

    p = sub.add_parser("export", help="write a model's graphs as ONNX or TorchScript files (dynamic batch and size)")
    p.add_argument("checkpoint", metavar="RUN", help="run directory, checkpoint file or save_pretrained folder")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    p.add_argument("--output", required=True, help="folder for the graph files and export.json")
    p.add_argument("--no-ema", action="store_true", help="export the trained generators, not their EMA")
    p.set_defaults(run=_export)

    p = sub.add_parser("app", help="serve a local web page to translate uploaded images with a model")
    p.add_argument("--checkpoint", required=True, help="run directory, checkpoint file or save_pretrained folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=7860, help="port (default 7860; 0 picks a free one)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--max-upload-mb", type=_megabytes, default=8.0, help="largest request body (default 8 MB)")
    p.add_argument("--max-pixels", type=_positive, default=16_000_000, help="largest image (default 16 MP)")
    p.set_defaults(run=_app)

    p = sub.add_parser("export-cyclegan", help="write a CycleGAN, pix2pix or CUT run's generators in the layout of "
                       "the official CycleGAN-and-pix2pix / CUT code")
    p.add_argument("checkpoint", metavar="RUN", help="run directory or checkpoint file (cyclegan, pix2pix, cut)")
    p.add_argument("--output", required=True, help="folder for latest_net_G_A.pth (A to B) and latest_net_G_B.pth "
                   "(CycleGAN) or latest_net_G.pth (pix2pix, CUT)")
    p.set_defaults(run=_export_cyclegan)

    p = sub.add_parser("export-reference", help="write a run's latest checkpoint in the NVlabs/MUNIT layout")
    p.add_argument("checkpoint", metavar="RUN", help="run directory or checkpoint file")
    p.add_argument("--output", required=True, help="folder for gen_XXXXXXXX.pt, dis_XXXXXXXX.pt, optimizer.pt")
    p.set_defaults(run=_export_reference)
    for choice in sub._choices_actions:  # Each command's --help opens with its one-line summary.
        sub.choices[choice.dest].description = choice.help[0].upper() + choice.help[1:] + "."
    return parser


def _int_in(low: int, high: int, what: str):
    """An argparse type: an integer in [low, high]; anything else is argparse's one-line error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value
    return parse


_seed = _int_in(0, 2 ** 53, "a whole number 0 to 2**53")
_port = _int_in(0, 65535, "a port number 0-65535")


_positive = _int_in(1, 2 ** 53, "a positive integer")
_grid_size = _int_in(1, 64, "1 to 64 (rows or columns of one grid)")


def _megabytes(text: str) -> float:
    """An argparse type: a size in MB above 0 and at most 1 TB (nan, inf and negatives are argparse's
    one-line error)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 2 ** 20:
        raise argparse.ArgumentTypeError(f"expected a size in MB above 0 (at most {2 ** 20}), got {text}")
    return value


def _train(args: argparse.Namespace) -> None:
    from munit.training.distributed import close_world, init_world
    from munit.training.loop import train

    cfg = load_config(args.config, args.set)
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        _relaunch_with_torchrun(args.nproc, args.argv)
        return
    output = Path(args.output) if args.output else Path("runs") / Path(args.config).stem
    world, device = init_world(args.device)
    if world.is_main:
        print(f"munit: training {cfg.method} on {device} x {world.size} into {output}"
              + (" (resuming if it has a checkpoint)" if args.resume else ""))
    start_from = None
    if args.from_reference:
        from munit.interop.nvlabs_munit import reference_state

        start_from = reference_state(args.from_reference, cfg)
    run = train(cfg, output, device, resume=args.resume, progress=not args.no_progress, start_from=start_from,
                world=world)
    close_world(world)
    if world.is_main:
        print(f"done: {run} (grids in {run / 'images' / 'index.html'}, checkpoints in {run / 'checkpoints'})")


def _relaunch_with_torchrun(nproc: int, argv: list[str]) -> None:
    """`munit train --nproc N ...` = `torchrun --standalone --nproc-per-node N -m munit.cli train ...`."""
    argv = list(argv)
    for i, item in enumerate(argv):  # Drop --nproc N / --nproc=N; the children are already a group.
        if item == "--nproc":
            del argv[i:i + 2]
            break
        if item.startswith("--nproc="):
            del argv[i]
            break
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "munit.cli", *argv]
    code = subprocess.run(cmd).returncode
    if code:
        raise SystemExit(code)


def _translate(args: argparse.Namespace) -> None:
    from munit.api import open_model
    from munit.inference import translate_files
    from munit.interop.nvlabs_munit import from_reference

    device = pick_device(args.device)
    if args.config:
        model = from_reference(args.checkpoint, args.config, device, method=args.method)
    else:
        model = open_model(args.checkpoint, device, use_ema=not args.no_ema, test_noise=args.test_noise or None)
    if args.num_styles is not None and not model.method.multimodal:
        raise UsageError(f"--num-styles: method {model.cfg.method!r} gives one output per input "
                         f"(multimodal methods: {', '.join(n for n, m in METHODS.items() if m.multimodal)})")
    direction = args.direction or model.method.directions[0]
    if not args.full_size and (args.tile is not None or args.overlap is not None):
        raise UsageError("--tile and --overlap apply to --full-size translation; add --full-size")
    written = translate_files(model, args.input, args.output, direction, args.num_styles or 10, args.style, args.seed,
                              args.full_size, args.tile or DEFAULT_TILE, args.overlap)
    print(f"wrote {len(written)} image{'' if len(written) == 1 else 's'} to {args.output}")


def _sample(args: argparse.Namespace) -> None:
    from munit.inference import load_model, sample_grids

    model = load_model(args.checkpoint, pick_device(args.device))
    output = Path(args.output) if args.output else model.source.parent.parent / "samples"
    for path in sample_grids(model, output, args.num_inputs, args.num_styles, args.num_refs, args.seed,
                              args.codes):
        print(path)


def _evaluate(args: argparse.Namespace) -> None:
    import json

    from munit.eval.evaluate import evaluate
    from munit.eval.protocols import protocol

    for name in args.protocol:
        protocol(name)  # Every name is checked before any work.
    for name in args.protocol:
        record = evaluate(args.checkpoint, name, args.data, args.direction, args.out, args.seed, args.classifier,
                          args.weights, not args.no_download, pick_device(args.device), not args.no_progress)
        print(f"{name}: {json.dumps(record['metrics'])}")


def _train_classifier(args: argparse.Namespace) -> None:
    from munit.config import BUILTIN_PREFIX
    from munit.eval.classifier import builtin_labelled, folder_labelled, save_classifier, train_classifier

    if args.data.startswith(BUILTIN_PREFIX):
        train = builtin_labelled(args.domain, "train", 4000, args.size, args.seed)
        test = builtin_labelled(args.domain, "test", 400, args.size, args.seed)
    else:
        train = folder_labelled(args.data, args.size)
        test = folder_labelled(args.test, args.size) if args.test else None
        if test is not None and test.classes != train.classes:
            raise UsageError(f"--test {args.test}: classes {test.classes} differ from --data's {train.classes}")
    model, acc = train_classifier(train, test, args.iterations, size=args.size, seed=args.seed,
                                  device=pick_device(args.device), progress=not args.no_progress)
    save_classifier(model, train.classes, args.output, acc)
    print(f"wrote {args.output} ({len(train.classes)} classes"
          + (f", test accuracy {acc:.1%})" if acc is not None else ")"))


def _export(args: argparse.Namespace) -> None:
    from munit.api import Translator
    from munit.export import export

    model = Translator.from_pretrained(args.checkpoint, "cpu", use_ema=not args.no_ema).model
    for path in export(model, args.output, args.format):
        print(path)


def _app(args: argparse.Namespace) -> None:
    from munit.api import Translator
    from munit.app import make_server

    translator = Translator.from_pretrained(args.checkpoint, pick_device(args.device))
    try:
        server = make_server(translator, args.host, args.port, int(args.max_upload_mb * 2 ** 20), args.max_pixels)
    except OSError as e:  # Port in use, an address this machine does not have.
        raise OSError(f"cannot serve on {args.host}:{args.port}: {e.strerror or e}") from None
    print(f"munit app: http://{server.server_address[0]}:{server.server_address[1]}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _export_cyclegan(args: argparse.Namespace) -> None:
    from munit.interop.cyclegan import export_run

    for path in export_run(args.checkpoint, args.output):
        print(f"wrote {path}")


def _export_reference(args: argparse.Namespace) -> None:
    from munit.interop.nvlabs_munit import export_reference

    for path in export_reference(args.checkpoint, args.output):
        print(path)


if __name__ == "__main__":
    sys.exit(main())
