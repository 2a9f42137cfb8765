"""Fast and exact training modes, mixed precision, channels-last, and skipping non-finite updates."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch

from munit.cli import main
from munit.methods.base import Term
from munit.training.checkpoint import load_checkpoint
from munit.training.loop import NonFiniteError, NonFiniteWarning, Trainer

from helpers import batch, params, tiny_config

CPU = torch.device("cpu")


@pytest.mark.parametrize("same_draws", [False, True], ids=["own-draws", "dis_same_draws"])
@pytest.mark.parametrize("method", ["munit", "unit"])
def test_fast_step_equals_exact_step_given_the_same_draws(method, same_draws):
    """Fast mode changes the work, not the update: given the same style codes (or noises), drawn apart for
    the discriminator's fakes and for the generator pass as the reference does, one fast step and one exact
    step give the same weights. With `dis_same_draws`, fast mode is exact mode whose discriminator draws
    are the generator pass's."""
    steps = {}
    for mode in ("fast", "exact"):
        cfg = tiny_config(method=method, train_mode=mode, dis_same_draws=same_draws and mode == "fast")
        trainer = Trainer(cfg, CPU)
        x_a, x_b = batch(cfg, 1), batch(cfg, 2)
        torch.manual_seed(3)
        if method == "munit":
            s_a, s_b, d_a, d_b = (torch.randn(cfg.batch_size, cfg.gen.style_dim, 1, 1) for _ in range(4))
            gen_draws, dis_draws = {"s_a": s_a, "s_b": s_b}, {"s_a": d_a, "s_b": d_b}
        else:
            scale = 2 ** cfg.gen.n_downsample
            shape = (cfg.batch_size, cfg.gen.dim * scale, cfg.crop_image_height // scale, cfg.crop_image_width // scale)
            noises = [torch.randn(shape) for _ in range(6)]
            gen_draws, dis_draws = {"noises": noises[:4]}, {"noises": noises[4:]}
        if same_draws:  # The discriminators' fakes are the generator pass's (UNIT: its first two noises).
            dis_draws = dict(gen_draws) if method == "munit" else {"noises": noises[:2]}
        terms = trainer.step(x_a, x_b, dis_draws, gen_draws)
        steps[mode] = (terms, params(trainer), {k: p.grad for n, m in trainer.nets.items()
                                                for k, p in ((f"{n}.{k}", p) for k, p in m.named_parameters())})
    (fast_terms, fast, _), (exact_terms, exact, exact_grads) = steps["fast"], steps["exact"]
    assert fast_terms.keys() == exact_terms.keys()
    for name in fast_terms:
        torch.testing.assert_close(fast_terms[name], exact_terms[name], rtol=1e-5, atol=1e-6, msg=name)
    lr = tiny_config().lr
    for key, value in exact.items():
        grad = exact_grads[key]
        # Adam's first step moves each weight by about lr * sign(grad); where the gradient is rounding noise
        # (biases right before instance norm) only that bound is reproducible.
        noise = grad.abs() < 1e-6 if grad is not None else torch.zeros_like(value, dtype=torch.bool)
        torch.testing.assert_close(fast[key][~noise], value[~noise], rtol=1e-5, atol=1e-6, msg=key)
        assert torch.all((fast[key][noise] - value[noise]).abs() <= 2.02 * lr), key


def test_channels_last_gives_the_same_step():
    results = []
    for channels_last in (False, True):
        cfg = tiny_config(channels_last=channels_last)
        trainer = Trainer(cfg, CPU)
        torch.manual_seed(5)
        trainer.step(batch(cfg, 1), batch(cfg, 2))
        results.append(params(trainer))
    for key, value in results[0].items():
        torch.testing.assert_close(results[1][key], value, rtol=1e-4, atol=2.02 * tiny_config().lr, msg=key)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_steps_are_finite_and_learn(amp):
    cfg = tiny_config(amp=amp)
    trainer = Trainer(cfg, CPU)
    before = params(trainer)
    for i in range(3):
        terms = trainer.step(batch(cfg, i), batch(cfg, i + 10))
    assert all(torch.isfinite(v) for v in terms.values())
    assert sum(not torch.equal(before[k], v) for k, v in params(trainer).items()) > len(before) // 2
    assert sorted(trainer.scalers) == (["dis", "gen"] if amp == "fp16" else [])


def poison_term(trainer: Trainer, term: str) -> None:
    """Make the generator pass's `term` NaN from now on."""
    real_pass = trainer.method.generator_pass

    def poisoned(*args, **kwargs):
        gen_pass = real_pass(*args, **kwargs)
        weight, value = gen_pass.terms[term]
        gen_pass.terms[term] = Term(weight, value * float("nan"))
        return gen_pass

    trainer.method.generator_pass = poisoned


def test_a_non_finite_update_is_skipped_and_counted():
    cfg = tiny_config(max_bad_steps=3)
    trainer = Trainer(cfg, CPU)
    x_a, x_b = batch(cfg, 1), batch(cfg, 2)
    trainer.step(x_a, x_b)
    poison_term(trainer, "recon_x_a")
    gens = {k: v for k, v in params(trainer).items() if k.startswith("gen_")}
    with pytest.warns(NonFiniteWarning, match="recon_x_a"):
        trainer.step(x_a, x_b)
    after = params(trainer)
    assert all(torch.equal(after[k], v) for k, v in gens.items())  # The generator update was skipped,
    assert all(torch.isfinite(v).all() for v in after.values())  # nothing became NaN,
    assert trainer.skipped_steps == {"dis": 0, "gen": 1} and trainer.iteration == 2  # and it was counted.


def test_nan_gradient_with_finite_loss_is_caught():
    cfg = tiny_config()
    trainer = Trainer(cfg, CPU)
    weight = next(trainer.nets["dis_a"].parameters())
    weight.register_hook(lambda grad: grad * float("nan"))
    before = weight.detach().clone()
    with pytest.warns(NonFiniteWarning, match="gradients"):
        trainer.step(batch(cfg, 1), batch(cfg, 2))
    assert torch.equal(weight.detach(), before) and trainer.skipped_steps["dis"] == 1


def test_training_stops_after_max_bad_steps_naming_term_and_checkpoint(tmp_path, monkeypatch, capsys):
    """Through the CLI: a run whose loss turns NaN after its first checkpoint stops with one line that names
    the term and the last checkpoint, whose weights are finite (bad updates never reach the weights)."""
    real_init = Trainer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        real_pass = self.method.generator_pass

        def pass_(*a, **k):
            gen_pass = real_pass(*a, **k)
            if self.iteration >= 2:
                weight, value = gen_pass.terms["recon_c_b"]
                gen_pass.terms["recon_c_b"] = Term(weight, value * float("inf") * 0)
            return gen_pass

        self.method.generator_pass = pass_

    monkeypatch.setattr(Trainer, "__init__", init)
    config = tmp_path / "c.yaml"
    config.write_text("data_root: builtin:shapes\nnew_size: 32\ncrop_image_height: 32\ncrop_image_width: 32\n"
                      "builtin_train_size: 16\nbuiltin_test_size: 4\nnum_workers: 0\nmax_iter: 20\n"
                      "snapshot_save_iter: 2\nimage_save_iter: 100\nimage_display_iter: 100\nmax_bad_steps: 3\n"
                      "gen: {dim: 4, mlp_dim: 8, style_dim: 4, n_downsample: 1, n_res: 1}\n"
                      "dis: {dim: 4, n_layer: 2, num_scales: 2}\n")
    code = main(["train", "--config", str(config), "--output", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    last = [line for line in err.splitlines() if line.startswith("munit: error:")]
    assert len(last) == 1 and "3 gen updates in a row" in last[0] and "recon_c_b" in last[0]
    assert "last good checkpoint:" in last[0] and last[0].endswith("ckpt_00000004.pt")
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "ckpt_00000004.pt")
    assert state["skipped_steps"] == {"dis": 0, "gen": 2}
    assert all(torch.isfinite(v).all() for net in state["nets"].values() for v in net.values())


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_a_loss_that_stays_non_finite_under_amp_stops_naming_the_amp_key(amp):
    """fp16's scaler skips steps whose gradients overflow by itself (lowering its scale); such skips are
    counted as any skipped update, and the error says which key to change."""
    cfg = tiny_config(amp=amp, max_bad_steps=4)  # fp16's discriminators overflow twice as their scale settles.
    trainer = Trainer(cfg, CPU)
    poison_term(trainer, "recon_x_a")
    warned = pytest.warns(NonFiniteWarning) if amp == "bf16" else contextlib.nullcontext()  # fp16: the scaler's.
    with warned, pytest.raises(NonFiniteError, match=f"4 gen updates in a row.*try amp=none \\(now {amp}\\)"):
        for i in range(5):
            trainer.step(batch(cfg, i), batch(cfg, i + 10))
    assert trainer.skipped_steps["gen"] == 4


def test_fp16_has_a_gradient_scaler_per_optimiser_and_resumes_both():
    cfg = tiny_config(amp="fp16")
    trainer = Trainer(cfg, CPU)
    trainer.step(batch(cfg, 1), batch(cfg, 2))
    trainer.scalers["dis"].update(new_scale=8.0)  # As if the discriminators had overflowed more often.
    state = {**trainer.state(), "iteration": trainer.iteration}  # As save_checkpoint writes it.
    assert state["scaler"]["dis"]["scale"] != state["scaler"]["gen"]["scale"]
    again = Trainer(cfg, CPU)
    again.load_state(state, Path("run"))
    scales = {k: s.get_scale() for k, s in trainer.scalers.items()}
    assert {k: s.get_scale() for k, s in again.scalers.items()} == scales
    old = dict(state, scaler=state["scaler"]["gen"])  # A checkpoint from before: one scaler for both.
    older = Trainer(cfg, CPU)
    older.load_state(old, Path("run"))
    assert older.scalers["dis"].get_scale() == older.scalers["gen"].get_scale() == trainer.scalers["gen"].get_scale()
