"""The training loop shared by every method."""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import os
import platform
import shutil
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from munit.config import Config, resolve_paths, resume_changes, save_config, written_by_munit
from munit.data import batches, build_data, displays, parts, to_device
from munit.data.domains import resolve_domains
from munit.errors import UserError
from munit.methods import METHODS, Method, build_method
from munit.nets.recompute import checkpoint_blocks
from munit.training.checkpoint import (
    CheckpointError,
    checkpoint_dir,
    latest_checkpoint,
    load_checkpoint,
    load_networks,
    resolve_checkpoint,
    save_checkpoint,
)
from munit.training.distributed import SINGLE, World, broadcast_state, data_parallel, step_seed
from munit.training.lock import run_lock
from munit.training.log import RunLog
from munit.utils import atomic_write_text
from munit.visual import write_index, write_sample_grid

NUM_DISPLAY_STYLES = 5  # Random-style columns of a sample grid.


class RunExistsError(UserError, FileExistsError):
    """The output folder holds a run (or a file munit did not write) that this training would overwrite."""


class RunWriteError(UserError, OSError):
    """A run's file could not be written (disk full, permissions); earlier files are intact."""


class NonFiniteError(UserError, FloatingPointError):
    """Too many updates in a row had a non-finite loss or gradient."""


class NonFiniteWarning(RuntimeWarning):
    """One update was skipped because its loss or gradient was not finite."""


def learning_rate_factor(cfg: Config, iteration: int) -> float:
    """lr multiplier at 0-based `iteration`; the reference steps its StepLR before each update, so the
    first decay applies at iteration step_size - 1."""
    if cfg.lr_policy == "step":
        return cfg.gamma ** ((iteration + 1) // cfg.step_size)
    if cfg.lr_policy == "linear":  # CycleGAN: constant, then linearly to 0 at max_iter.
        start = cfg.lr_decay_start if cfg.lr_decay_start is not None else cfg.max_iter // 2
        return min(1.0, max(0.0, (cfg.max_iter - iteration) / max(cfg.max_iter - start, 1)))
    return 1.0


class Trainer:
    """Networks, optimisers, schedulers, EMA and the fixed display batches of one run."""

    def __init__(self, cfg: Config, device: torch.device, world: World = SINGLE):
        self.cfg, self.device, self.world = cfg, device, world
        torch.manual_seed(cfg.seed)
        self.method: Method = build_method(cfg).to(device)
        self.method.setup_training(device)
        self.nets: nn.ModuleDict = self.method.build_networks().to(device)
        self.method.start_networks(self.nets, lambda run: load_checkpoint(resolve_checkpoint(run), map_location="cpu"))
        if cfg.channels_last:
            self.nets.to(memory_format=torch.channels_last)
        recomputed = {"none": (), "gen": self.method.generator_names,
                      "all": self.method.generator_names + self.method.discriminator_names}[cfg.checkpoint_activations]
        for name in recomputed:
            checkpoint_blocks(self.nets[name])
        if cfg.compile:
            for net in self.nets.values():
                net.compile()  # In place: state-dict keys stay those of the plain module.
        self.opt_gen = self._adam(self.method.generator_names, cfg.lr)
        self.opt_dis = self._adam(self.method.discriminator_names, self.dis_lr)
        self.objectives = {which: data_parallel({n: self.nets[n] for n in names}, world, device)
                           for which, names in (("gen", self.method.generator_names),
                                                ("dis", self.method.discriminator_names))}
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lambda it: learning_rate_factor(cfg, it))
                           for opt in (self.opt_gen, self.opt_dis)]
        self.ema = self._ema_copy() if cfg.ema_beta > 0 else None
        # fp16: one gradient scaler per optimiser, so that the discriminators' overflows do not lower the
        # generators' scale (and skip their steps) or the other way round.
        self.scalers = ({which: torch.amp.GradScaler(device.type) for which in ("gen", "dis")}
                        if cfg.amp == "fp16" else {})
        self.iteration = 0
        self.bad_steps = {"dis": 0, "gen": 0}  # Consecutive skipped updates.
        self.skipped_steps = {"dis": 0, "gen": 0}  # All skipped updates of this process.
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.display_styles = {d: self.method.random_styles(NUM_DISPLAY_STYLES, torch.device("cpu"), gen)
                               for d in self.method.directions} if self.method.multimodal else {}

    @property
    def dis_lr(self) -> float:
        return self.cfg.lr_dis if self.cfg.lr_dis is not None else self.cfg.lr

    def _adam(self, names: tuple[str, ...], lr: float) -> torch.optim.Adam:
        """One Adam over the networks `names`: one parameter group per learning rate (`method.network_lr`)."""
        groups: dict[float, dict[int, torch.Tensor]] = {}
        seen: set[int] = set()  # Weights shared between networks, once.
        for name in names:
            for p in self.nets[name].parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    groups.setdefault(self.method.network_lr(name, lr), {})[id(p)] = p
        return torch.optim.Adam([{"params": list(ps.values()), "lr": group_lr} for group_lr, ps in groups.items()],
                                lr=lr, betas=(self.cfg.beta1, self.cfg.beta2), weight_decay=self.cfg.weight_decay,
                                **self._adam_kernel())

    def _adam_kernel(self) -> dict[str, bool]:
        """Fast mode: one fused kernel for all parameters (11% of a step at 64 px on CPU); exact mode: the
        reference's per-parameter loop, whose rounding the golden tests check."""
        if self.cfg.train_mode == "exact":
            return {"foreach": False, "fused": False}
        if self.device.type in ("cpu", "cuda"):
            return {"foreach": False, "fused": True}
        return {"foreach": True, "fused": False}

    def _ema_copy(self) -> nn.ModuleDict:
        ema = nn.ModuleDict({n: copy.deepcopy(self.nets[n]) for n in self.method.generator_names})
        return ema.requires_grad_(False).eval()

    def sampling_nets(self) -> nn.ModuleDict:
        """Networks to sample with: the EMA generators when EMA is on."""
        if self.ema is None:
            return self.nets
        return nn.ModuleDict({**dict(self.nets.items()), **dict(self.ema.items())})

    def step(self, x_a: torch.Tensor, x_b: torch.Tensor, dis_draws: dict | None = None,
             gen_draws: dict | None = None) -> dict[str, torch.Tensor]:
        """One discriminator update, then one generator update that uses the updated discriminators.

        `dis_draws`/`gen_draws` pass recorded random draws (e.g. s_a, s_b) to `method.dis_fakes` and
        `method.generator_pass` (in fast mode, to the pass's `redraw`), for comparisons with other runs;
        normally they draw their own."""
        self.nets.train()
        if self.world.size > 1:
            torch.manual_seed(step_seed(self.cfg.seed, self.world.rank, self.iteration))
        if self.cfg.channels_last:
            x_a, x_b = (channels_last(x) for x in (x_a, x_b))
        method, nets = self.method, self.nets
        method.iteration = self.iteration
        exact = self.cfg.train_mode == "exact"

        def update_discriminators(fakes: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            fakes = {name: fake.detach() for name, fake in fakes.items()}
            return self._update(self.opt_dis, "dis", lambda: method.discriminator_loss(nets, x_a, x_b, fakes,
                                                                                         joint=not exact))

        if exact:  # The reference's work, all of it: the D step translates anew (building a graph it drops).
            with self._autocast():
                fakes = method.dis_fakes(nets, x_a, x_b, **(dis_draws or {}))
            d_terms = update_discriminators(fakes)
        with self._autocast():
            gen_pass = method.generator_pass(nets, x_a, x_b, **(gen_draws or {}))
        if not exact:  # One generator pass; D learns from fakes of independent draws made from its encodings.
            with torch.no_grad(), self._autocast():
                same = gen_pass.redraw is None or self.cfg.dis_same_draws
                fakes = gen_pass.fakes if same else gen_pass.redraw(**(dis_draws or {}))
            d_terms = update_discriminators(fakes)

        # The reference also computes D's weight gradients in the G step and zeroes them unused; fast mode
        # freezes D instead. Neither changes an update.
        discriminators = [] if exact else [self.nets[n] for n in self.method.discriminator_names]
        for d in discriminators:
            d.requires_grad_(False)
        g_terms = self._update(self.opt_gen, "gen", lambda: method.generator_loss(nets, gen_pass))
        for d in discriminators:
            d.requires_grad_(True)

        with warnings.catch_warnings():  # A skipped first update makes the scheduler warn about call order.
            warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler.step\(\)`", UserWarning)
            for scheduler in self.schedulers:
                scheduler.step()
        if self.ema is not None:
            self._update_ema()
        self.iteration += 1
        return {**{f"dis/{k}": v for k, v in d_terms.items()}, **{f"gen/{k}": v for k, v in g_terms.items()}}

    def _autocast(self) -> torch.autocast:
        dtype = torch.float16 if self.cfg.amp == "fp16" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype, enabled=self.cfg.amp != "none")

    def _update(self, optimizer: torch.optim.Optimizer, which: str, loss_fn) -> dict[str, torch.Tensor]:
        """Backward and step of one optimiser. An update whose loss or gradient is not finite is skipped
        and counted; `cfg.max_bad_steps` such updates in a row stop training."""
        # Gradients to None, PyTorch's default (and the reference's when run today): backward assigns them
        # instead of adding them to zeros, the same values; zeroing in place cost exact mode 11% at dim 64.
        optimizer.zero_grad()
        with self._autocast():
            loss, terms = self.objectives[which](loss_fn)  # DDP in a process group: it averages the gradients.
        scaler = self.scalers.get(which)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        if scaler is not None:  # fp16: the scaler skips steps with inf/NaN gradients and lowers its scale.
            # Its decision reads the gradients DDP averaged, so every process skips the same steps; a skip is
            # counted like any other (without a warning: overflows at the start are how the scale is found).
            scale = scaler.get_scale()
            scaler.step(optimizer)
            scaler.update()
            if scaler.get_scale() < scale:
                self._bad_step(which, terms, warn=False)
            else:
                self.bad_steps[which] = 0
            return terms
        params = self._params(optimizer)
        grads = [p.grad for p in params if p.grad is not None]
        if torch.isfinite(torch.stack(torch._foreach_norm(grads)).sum()):
            optimizer.step()
            self.bad_steps[which] = 0
        else:
            self._bad_step(which, terms)
        return terms

    def _bad_step(self, which: str, terms: dict[str, torch.Tensor], warn: bool = True) -> None:
        self.skipped_steps[which] += 1
        self.bad_steps[which] += 1
        bad = [name for name, value in terms.items() if name != "total" and not torch.isfinite(value)]
        culprit = f"loss terms {', '.join(bad)}" if bad else "gradients (the loss is finite)"
        if warn:
            warnings.warn(f"iteration {self.iteration}: non-finite {which} {culprit}; update skipped",
                          NonFiniteWarning, stacklevel=3)
        if self.bad_steps[which] >= self.cfg.max_bad_steps:
            amp = self.cfg.amp
            hint = f"; reduced precision may be the cause: try amp=none (now {amp})" if amp != "none" else ""
            raise NonFiniteError(f"{self.bad_steps[which]} {which} updates in a row had non-finite {culprit} "
                                 f"(iteration {self.iteration}); training stopped (max_bad_steps){hint}")

    @staticmethod
    def _params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
        return [p for group in optimizer.param_groups for p in group["params"]]

    @torch.no_grad()
    def _update_ema(self) -> None:
        for name in self.method.generator_names:
            ema_params = list(self.ema[name].parameters())
            params = [p.detach() for p in self.nets[name].parameters()]
            torch._foreach_lerp_(ema_params, params, 1.0 - self.cfg.ema_beta)
            for b_ema, b in zip(self.ema[name].buffers(), self.nets[name].buffers(), strict=True):
                b_ema.copy_(b)

    def set_iteration(self, iteration: int) -> None:
        """Continue counting from `iteration` (e.g. a reference checkpoint's), with its learning rate."""
        self.iteration = iteration
        for scheduler in self.schedulers:
            scheduler.last_epoch = iteration
            for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, strict=True):
                group["lr"] = base * learning_rate_factor(self.cfg, iteration)

    def state(self) -> dict:
        return {
            "method": self.cfg.method,
            "config": self.cfg.to_dict(),
            "nets": {n: m.state_dict() for n, m in self.nets.items()},
            "ema": {n: m.state_dict() for n, m in self.ema.items()} if self.ema is not None else {},
            "optimizers": {"gen": self.opt_gen.state_dict(), "dis": self.opt_dis.state_dict()},
            "schedulers": {"gen": self.schedulers[0].state_dict(), "dis": self.schedulers[1].state_dict()},
            "display_styles": self.display_styles,
            "method_state": self.method.state_dict(),
            "scaler": {which: scaler.state_dict() for which, scaler in self.scalers.items()},
            "skipped_steps": self.skipped_steps,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }

    def load_state(self, state: dict, source: Path) -> None:
        """Continue from `state`: a checkpoint of `state()`, or the start of a run converted from another
        codebase (e.g. `munit.interop.nvlabs_munit.reference_state`), which has only method, nets, iteration
        and possibly optimizers; what it lacks keeps this trainer's fresh value (EMA copies the networks)."""
        if state.get("method") != self.cfg.method:
            raise CheckpointError(f"{source}: checkpoint of method {state.get('method')!r}, "
                                  f"the config says {self.cfg.method!r}")
        load_networks(self.nets, state["nets"], source)
        if self.ema is not None:
            load_networks(self.ema, state.get("ema") or {n: state["nets"][n] for n in self.ema}, source)
        for optimizer, key in ((self.opt_gen, "gen"), (self.opt_dis, "dis")):
            if "optimizers" in state:
                optimizer.load_state_dict(state["optimizers"][key])
            for group in optimizer.param_groups:  # This config's kernel and settings, whatever saved the state.
                group.update(self._adam_kernel(), betas=(self.cfg.beta1, self.cfg.beta2),
                             weight_decay=self.cfg.weight_decay)
        saved_scalers = state.get("scaler") or {}
        if "scale" in saved_scalers:  # Written before each optimiser had its own scaler: one for both.
            saved_scalers = {"gen": saved_scalers, "dis": saved_scalers}
        for which, scaler in self.scalers.items():
            if which in saved_scalers:
                scaler.load_state_dict(saved_scalers[which])
        self.skipped_steps = dict(state.get("skipped_steps", self.skipped_steps))
        for scheduler, key in zip(self.schedulers, ("gen", "dis"), strict=True):
            base_lrs = list(scheduler.base_lrs)  # This config's: a changed lr applies (set_iteration).
            if "schedulers" in state:
                scheduler.load_state_dict(state["schedulers"][key])
            scheduler.base_lrs = base_lrs
        self.display_styles = state.get("display_styles", self.display_styles)
        self.method.load_state_dict(state.get("method_state", {}))
        self.set_iteration(int(state["iteration"]))
        if "rng" in state:
            torch.set_rng_state(state["rng"]["torch"])
            if state["rng"]["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    @torch.no_grad()
    def fit_inference_state(self, data) -> None:
        """The method's fit of what translation needs from the training data, on the networks that sample;
        the live networks get the same buffers (the EMA copies theirs from them at every step)."""
        self.method.fit_inference_state(self.sampling_nets().eval(), data)
        if self.ema is not None:
            for name in self.ema:
                for live, averaged in zip(self.nets[name].buffers(), self.ema[name].buffers(), strict=True):
                    live.copy_(averaged)
        self.nets.train()

    @torch.no_grad()
    def write_grids(self, displays: dict[str, torch.Tensor], image_dir: Path, tag: str) -> list[Path]:
        """One PNG per direction: inputs, reconstructions, random-style and reference-guided translations."""
        nets = self.sampling_nets().eval()
        paths = []
        for direction in map(self.method.direction, self.method.directions):
            x, refs = displays[direction.source].to(self.device), displays[f"ref_{direction.target}"].to(self.device)
            styles = self.display_styles.get(direction)
            paths.append(write_sample_grid(self.method, nets, x, refs, direction,
                                           None if styles is None else styles.to(self.device),
                                           image_dir / f"{direction}_{tag}.png"))
        write_index(image_dir)
        self.nets.train()
        return paths


def train(cfg: Config, run_dir: str | Path, device: torch.device, resume: bool = False,
          progress: bool = True, num_workers: int | None = None, start_from: tuple[dict, Path] | None = None,
          world: World = SINGLE) -> Path:
    """Train `cfg.method` into `run_dir`; with `resume`, continue from its latest checkpoint; a new run starts
    from `start_from` when given: (a state `Trainer.load_state` reads, the file or folder it comes from), e.g.
    a NVlabs/MUNIT checkpoint folder read by `munit.interop.nvlabs_munit.reference_state`.
    In a torchrun process group (`world`), every process trains on its slice of each global batch and
    only the main process writes.

    Returns the run directory, which holds config.yaml, checkpoints/, images/ (grids and index.html),
    log.jsonl, tensorboard/, machine.json (what it trained on) and .munit-lock (its owner's lock). A run
    folder that this call created is removed again if training fails
    before its first checkpoint (nothing in it could be resumed).
    """
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    with run_lock(run_dir) if world.is_main else contextlib.nullcontext():  # One training per folder.
        try:
            return _train(resolve_paths(cfg), run_dir, device, resume, progress, num_workers, start_from, world)
        except BaseException:
            if created and world.is_main and run_dir.is_dir() and latest_checkpoint(run_dir) is None:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


def _train(cfg: Config, run_dir: Path, device: torch.device, resume: bool, progress: bool, num_workers: int | None,
           start_from: tuple[dict, Path] | None, world: World) -> Path:
    latest = latest_checkpoint(run_dir)
    if latest is not None and not resume:
        raise RunExistsError(f"{run_dir}: run already has checkpoints (latest {latest.name}); pass --resume "
                             "to continue it or choose another --output")
    method = METHODS[cfg.method]
    if method.multi_domain:
        cfg = resolve_domains(cfg)  # Saved with the run: its models know their domains' names.
    data = {split: build_data(cfg, split, method) for split in ("train", "test")}  # Bad data fails first.
    config_file = run_dir / "config.yaml"
    if latest is None and config_file.is_file() and not written_by_munit(config_file):
        raise RunExistsError(f"{config_file}: a file munit did not write; munit keeps its run's config there, "
                             "so choose another --output")
    trainer = Trainer(cfg, device, world)
    if latest is not None:
        state = load_checkpoint(latest, map_location=device)
        changes = resume_changes(state["config"], cfg, str(latest))  # Refuses changes that cannot apply.
        trainer.load_state(state, latest)
        if changes and world.is_main:
            print(f"munit: resuming with {', '.join(changes)}", file=sys.stderr)
        if world.is_main:  # Temporary files of writes that a crash interrupted.
            for stale in [*checkpoint_dir(run_dir).glob(".*.tmp"), *(run_dir / "images").glob(".*.tmp")]:
                stale.unlink(missing_ok=True)
    elif start_from is not None:
        trainer.load_state(*start_from)
    broadcast_state(trainer.nets, world)
    start = trainer.iteration
    if world.is_main:
        try:
            save_config(cfg, config_file)
            atomic_write_text(run_dir / "machine.json", json.dumps(machine(device, world)))  # For model cards.
        except OSError as e:
            raise _write_error(run_dir, e, trainer) from None

    train_batches = batches(cfg, data["train"], start, device, method, num_workers, world)
    test_display = displays(cfg, data["test"])
    train_display = displays(cfg, data["train"])
    image_dir = run_dir / "images"

    try:
        log = RunLog(run_dir, start) if world.is_main else None
    except OSError as e:
        raise _write_error(run_dir, e, trainer) from None
    bar = tqdm(total=cfg.max_iter, initial=start, disable=not progress or not world.is_main, dynamic_ncols=True,
               unit="it")
    last_time, last_iter = time.perf_counter(), start
    failed = False
    try:
        while trainer.iteration < cfg.max_iter:
            x_a, x_b = to_device(next(train_batches), device)
            terms = trainer.step(x_a, x_b)
            it = trainer.iteration
            bar.update(1)
            final = it == cfg.max_iter
            if not world.is_main:
                continue
            if it % cfg.log_iter == 0 or final:
                now = time.perf_counter()
                scalars = {k: float(v) for k, v in terms.items()}
                scalars["lr"] = trainer.opt_gen.param_groups[0]["lr"]
                scalars["it_per_s"] = (it - last_iter) / max(now - last_time, 1e-9)
                scalars.update({f"skipped/{k}": v for k, v in trainer.skipped_steps.items()})
                if cfg.skip_bad_images:
                    scalars["skipped/images"] = sum(ds.skipped() for ds in parts(cfg, data["train"]).values())
                last_time, last_iter = now, it
                log.write(it, scalars)
                bar.set_postfix({"G": f"{scalars['gen/total']:.3f}", "D": f"{scalars['dis/total']:.3f}"})
            if it % cfg.image_display_iter == 0:
                trainer.write_grids(train_display, image_dir, "train_current")
            if it % cfg.image_save_iter == 0 or it % cfg.snapshot_save_iter == 0 or final:
                trainer.fit_inference_state(data["train"])
            if it % cfg.image_save_iter == 0 or final:
                trainer.write_grids(test_display, image_dir, f"test_{it:08d}")
            if it % cfg.snapshot_save_iter == 0 or final:
                save_checkpoint(run_dir, trainer.state(), it, cfg.keep_last)
    except NonFiniteError as e:
        failed = True
        last_good = latest_checkpoint(run_dir)
        raise NonFiniteError(f"{e}; last good checkpoint: {last_good if last_good else 'none yet'}") from None
    except OSError as e:  # Disk full, permissions, a vanished mount: every write is atomic, nothing is half done.
        failed = True
        raise _write_error(run_dir, e, trainer) from None
    except BaseException:
        failed = True
        raise
    finally:
        bar.close()
        if log is not None:
            log.close(quiet=failed)
    if cfg.skip_bad_images and world.is_main:
        skipped = {d: ds.skipped() for d, ds in parts(cfg, data["train"]).items()}
        if any(skipped.values()):
            counts = ", ".join(f"{n} of domain {d.upper() if d in 'ab' else d}" for d, n in skipped.items())
            warnings.warn(f"skipped unreadable training images: {counts} (skip_bad_images); their neighbours were "
                          "used instead", stacklevel=2)
    return run_dir


def machine(device: torch.device, world: World) -> dict:
    """What the run trains on: the device's name, the processor, the process count, torch's version."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    return {"device": name, "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "processes": world.size, "torch": torch.__version__, "platform": platform.platform()}


def _write_error(run_dir: Path, e: OSError, trainer: Trainer) -> RunWriteError:
    last_good = latest_checkpoint(run_dir)
    remedy = {errno.ENOSPC: "once there is room", errno.EDQUOT: "once there is room",
              errno.EROFS: "once the folder is writable (its filesystem is read-only)",
              errno.EACCES: "once the folder is writable (permission denied)",
              errno.EPERM: "once the folder is writable (permission denied)"}.get(e.errno, "once it can be written")
    return RunWriteError(f"{run_dir}: cannot write {e.filename or 'the run'} ({e.strerror or e}) at iteration "
                         f"{trainer.iteration}; the latest checkpoint {last_good or '(none yet)'} is intact, "
                         f"continue with --resume {remedy}")


def channels_last(batch):
    """The images (4-d tensors) of a batch in channels-last layout."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(channels_last(b) for b in batch)
    return batch.contiguous(memory_format=torch.channels_last) if batch.dim() == 4 else batch
