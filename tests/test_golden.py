"""Equivalence with NVlabs/MUNIT: outputs and one training step recorded with the reference code."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from munit.interop.nvlabs_munit import REFERENCE_TERM_NAMES, from_reference
from munit.methods import load_config
from munit.training.loop import Trainer

from helpers import golden_path


@pytest.fixture(scope="module")
def golden():
    cases = torch.load(golden_path("cases.pt"), weights_only=True)
    gens = torch.load(golden_path("munit_gen.pt"), weights_only=True)
    dis = torch.load(golden_path("dis.pt"), weights_only=True)
    cfg = load_config(golden_path("config.yaml"))
    return cfg, cases, gens, dis


def make_trainer(golden):
    """A trainer holding the reference's weights, loaded through the public `from_reference`."""
    cfg = dataclasses.replace(golden[0], train_mode="exact")  # The reference's Adam loop and rounding.
    model = from_reference(golden_path("munit_gen.pt"), golden_path("config.yaml"), dis_path=golden_path("dis.pt"))
    trainer = Trainer(cfg, torch.device("cpu"))
    trainer.nets.load_state_dict(model.nets.state_dict())
    return trainer


def test_state_dict_layout_is_the_reference_layout(golden):
    trainer = make_trainer(golden)
    _, _, gens, dis = golden
    assert list(trainer.nets["gen_a"].state_dict()) == list(gens["a"])
    assert list(trainer.nets["dis_a"].state_dict()) == list(dis["a"])


def test_forward_tensors_match_reference(golden):
    _, cases, _, _ = golden
    nets = make_trainer(golden).nets.eval()
    gen_a, gen_b = nets["gen_a"], nets["gen_b"]
    with torch.no_grad():
        c_a, s_a = gen_a.encode(cases["x_a"])
        c_b, s_b = gen_b.encode(cases["x_b"])
        got = {
            "c_a": c_a, "s_a_enc": s_a, "c_b": c_b, "s_b_enc": s_b,
            "x_ab": gen_b.decode(c_a, cases["s"]), "x_ba": gen_a.decode(c_b, cases["s"]),
            "x_aa": gen_a.decode(c_a, s_a), "x_bb": gen_b.decode(c_b, s_b),
            "adain_params_b_s": gen_b.mlp(cases["s"]),
        }
        for d in "ab":
            for i, out in enumerate(nets[f"dis_{d}"](cases[f"x_{d}"])):
                got[f"d_{d}_out_{i}"] = out
    for name, value in got.items():
        expected = cases[name]
        assert value.shape == expected.shape, name
        if name.startswith("d_"):  # Tiny values (1e-4..1e-5): relative tolerance.
            torch.testing.assert_close(value, expected, rtol=1e-4, atol=1e-9, msg=name)
        else:
            torch.testing.assert_close(value, expected, rtol=1e-4, atol=1e-5, msg=name)


def test_decoder_is_stateless_and_buffers_untouched(golden):
    _, cases, _, _ = golden
    gen = make_trainer(golden).nets["gen_b"]
    with torch.no_grad():
        c, _ = gen.encode(cases["x_a"])
        first = gen.decode(c, cases["s"])
        gen.decode(c, torch.randn_like(cases["s"]))  # A stateful decoder would keep these params.
        again = gen.decode(c, cases["s"])
    assert torch.equal(first, again)
    for key, value in gen.state_dict().items():
        if key.endswith("running_mean"):
            assert torch.count_nonzero(value) == 0
        if key.endswith("running_var"):
            assert torch.all(value == 1)


@pytest.fixture
def one_thread():
    """The reference ran its convs with one summation order; L1 and ReLU gradients flip sign on ulp-level
    differences, so the train-step comparison uses the same single-threaded kernels."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _assert_grads(got: dict, expected: dict):
    """rtol 1e-3 where the reference gradient is not near zero (above 1e-3 of the tensor's largest and 1e-6); the
    near-zero rest (e.g. biases right before instance norm, zero up to rounding) by absolute difference.

    Where float32 kernels other than the reference machine's round differently, ill-conditioned gradients
    (sums that cancel, as in a conv right before instance norm; L1 and ReLU gradients flipping sign on
    ulp-level differences) move by more than that per element: measured 2026-11-22 on an AVX2 CPU against
    float64, the golden first content-encoder conv is 3.7e-3 off (relative norm) and munit's 2.1e-3, UNIT's
    first conv 1.4e-2. Such a tensor passes within 3e-2 in relative norm; a wrong gradient is off by far more."""
    for name, exp in expected.items():
        value = got[name]
        scale = exp.abs().max()
        big = exp.abs() > max(1e-3 * scale, 1e-6)
        close = torch.allclose(value[big], exp[big], rtol=1e-3, atol=0)
        close = close and bool(torch.all((value[~big] - exp[~big]).abs() <= max(1e-7, 1e-5 * scale)))
        error = float((value - exp).norm() / exp.norm()) if exp.norm() > 0 else 0.0
        assert close or error <= 3e-2, f"{name}: relative norm error {error:.1e}"


def test_discriminator_step_matches_reference(golden, one_thread):
    _, cases, _, _ = golden
    step = cases["train_step"]
    trainer = make_trainer(golden)
    trainer.nets.train()
    s_a, s_b = step["munit_dis_randn"]
    trainer.opt_dis.zero_grad()
    with torch.no_grad():
        fakes = trainer.method.dis_fakes(trainer.nets, cases["x_a"], cases["x_b"], s_a=s_a, s_b=s_b)
    loss, terms = trainer.method.discriminator_loss(trainer.nets, cases["x_a"], cases["x_b"], fakes)
    loss.backward()
    for name in ("dis_a", "dis_b", "dis_total"):
        key = "total" if name == "dis_total" else name
        torch.testing.assert_close(terms[key], step[f"munit_loss_{name}"], rtol=1e-5, atol=0)
    params = dict(trainer.nets["dis_a"].named_parameters())
    _assert_grads({k: params[k].grad for k in step["munit_dis_grad_a"]}, step["munit_dis_grad_a"])
    trainer.opt_dis.step()
    for k, exp in step["munit_dis_a_after_step"].items():
        torch.testing.assert_close(params[k].detach(), exp, rtol=1e-5, atol=1e-7, msg=k)


def test_generator_step_matches_reference(golden, one_thread):
    _, cases, _, _ = golden
    step = cases["train_step"]
    trainer = make_trainer(golden)
    trainer.nets.train()
    s_a, s_b = step["munit_gen_randn"]
    trainer.opt_gen.zero_grad()
    gen_pass = trainer.method.generator_pass(trainer.nets, cases["x_a"], cases["x_b"], s_a=s_a, s_b=s_b)
    loss, terms = trainer.method.generator_loss(trainer.nets, gen_pass)
    loss.backward()
    for name, value in terms.items():
        name = REFERENCE_TERM_NAMES["munit"].get(name, name)
        torch.testing.assert_close(value, step[f"munit_loss_gen_{name}"], rtol=1e-5, atol=0, msg=name)
    for d in "ab":
        params = dict(trainer.nets[f"gen_{d}"].named_parameters())
        expected = step[f"munit_gen_grad_{d}"]
        _assert_grads({k: params[k].grad for k in expected}, expected)
    grads = {k: p.grad.clone() for k, p in trainer.nets["gen_a"].named_parameters() if p.grad is not None}
    trainer.opt_gen.step()
    params = dict(trainer.nets["gen_a"].named_parameters())
    for k, exp in step["munit_gen_a_after_step"].items():
        # Adam's first step moves each element by about lr * sign(grad): where the gradient is rounding
        # noise (e.g. biases right before instance norm) or its sign differs from the reference's (rounding,
        # see _assert_grads), only that bound is reproducible.
        exp_grad = step["munit_gen_grad_a"][k]
        noise = (exp_grad.abs() < 1e-6) | (torch.sign(grads[k]) != torch.sign(exp_grad))
        got = params[k].detach()
        # Elsewhere to 1% of the step (a gradient of Adam's eps scale moves it by less than lr).
        torch.testing.assert_close(got[~noise], exp[~noise], rtol=1e-5, atol=0.01 * trainer.cfg.lr)
        assert torch.all((got[noise] - exp[noise]).abs() <= trainer.cfg.lr * 2.02), k  # Opposite signs: apart by 2 lr.


@pytest.fixture(scope="module")
def unit_model():
    return from_reference(golden_path("unit_gen.pt"), golden_path("config.yaml"), dis_path=golden_path("dis.pt"),
                          method="unit")


def test_unit_forward_tensors_match_reference(golden, unit_model):
    _, cases, _, _ = golden
    gen_a, gen_b = unit_model.nets["gen_a"], unit_model.nets["gen_b"]
    with torch.no_grad():
        h_a, h_b = gen_a.encode(cases["x_a"])[0], gen_b.encode(cases["x_b"])[0]
        got = {"unit_h_a": h_a, "unit_h_b": h_b, "unit_x_ab": gen_b.decode(h_a), "unit_x_ba": gen_a.decode(h_b),
               "unit_x_aa": gen_a.decode(h_a), "unit_x_bb": gen_b.decode(h_b)}
    for name, value in got.items():
        torch.testing.assert_close(value, cases[name], rtol=1e-4, atol=1e-5, msg=name)
    x_ab = unit_model.method.translate(unit_model.nets, cases["x_a"], "a2b")
    torch.testing.assert_close(x_ab, cases["unit_x_ab"], rtol=1e-4, atol=1e-5)


def unit_trainer(golden, unit_model):
    cfg = load_config(golden_path("config.yaml"), ["method=unit", "train_mode=exact"])
    trainer = Trainer(cfg, torch.device("cpu"))
    trainer.nets.load_state_dict(unit_model.nets.state_dict())
    trainer.nets.train()
    return trainer


def test_unit_discriminator_step_matches_reference(golden, unit_model, one_thread):
    _, cases, _, _ = golden
    step = cases["train_step"]
    trainer = unit_trainer(golden, unit_model)
    with torch.no_grad():
        fakes = trainer.method.dis_fakes(trainer.nets, cases["x_a"], cases["x_b"], noises=step["unit_dis_randn"])
    loss, terms = trainer.method.discriminator_loss(trainer.nets, cases["x_a"], cases["x_b"], fakes)
    for name in ("dis_a", "dis_b"):
        torch.testing.assert_close(terms[name], step[f"unit_loss_{name}"], rtol=1e-5, atol=0)
    torch.testing.assert_close(terms["total"], step["unit_loss_dis_total"], rtol=1e-5, atol=0)


def test_unit_generator_step_matches_reference(golden, unit_model, one_thread):
    _, cases, _, _ = golden
    step = cases["train_step"]
    trainer = unit_trainer(golden, unit_model)
    trainer.opt_gen.zero_grad()
    gen_pass = trainer.method.generator_pass(trainer.nets, cases["x_a"], cases["x_b"], noises=step["unit_gen_randn"])
    loss, terms = trainer.method.generator_loss(trainer.nets, gen_pass)
    loss.backward()
    for name, value in terms.items():
        torch.testing.assert_close(value, step[f"unit_loss_gen_{name}"], rtol=1e-5, atol=0, msg=name)
    params = dict(trainer.nets["gen_a"].named_parameters())
    _assert_grads({k: params[k].grad for k in step["unit_gen_grad_a"]}, step["unit_gen_grad_a"])
