"""benchmarks/speed.py's reference mode re-creates the NVlabs/MUNIT iteration from the reference's facts: it
must compute what munit's exact mode computes (the golden tests tie that to the reference's own outputs),
or the speed ratios it prints would compare different work."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from munit.training.loop import Trainer

from helpers import ROOT, batch, params, tiny_config


def speed_module():
    spec = importlib.util.spec_from_file_location("speed", ROOT / "benchmarks" / "speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("overrides", [{}, {"recon_x_cyc_w": 10, "dis": {"gan_type": "nsgan"}}],
                         ids=["demo", "cycle-nsgan"])
def test_the_reference_step_updates_the_weights_as_exact_mode_does(overrides):
    cfg = tiny_config(method="munit", train_mode="exact", weight_decay=0.0001, **overrides)
    exact, reference = Trainer(cfg, torch.device("cpu")), Trainer(cfg, torch.device("cpu"))
    step = speed_module().ReferenceStep(cfg, reference.nets.train())
    for i in range(2):
        x_a, x_b = batch(cfg, 2 * i), batch(cfg, 2 * i + 1)
        gen = torch.Generator().manual_seed(i)
        draws = [torch.randn(cfg.batch_size, cfg.gen.style_dim, 1, 1, generator=gen) for _ in range(4)]
        exact.step(x_a, x_b, {"s_a": draws[0], "s_b": draws[1]}, {"s_a": draws[2], "s_b": draws[3]})
        step.dis_update(x_a, x_b, draws[0], draws[1])
        step.gen_update(x_a, x_b, draws[2], draws[3])
    ours, theirs = params(exact), params(reference)
    assert ours.keys() == theirs.keys()
    for key in ours:
        torch.testing.assert_close(theirs[key], ours[key], rtol=1e-5, atol=1e-6, msg=key)


def test_the_reference_translation_decodes_what_munit_translates():
    """The translation ratio compares the same output: only the reference's unused style code is extra."""
    cfg = tiny_config(method="munit")
    trainer = Trainer(cfg, torch.device("cpu"))
    nets, x = trainer.nets.eval(), batch(cfg, 0)
    with torch.no_grad():
        torch.manual_seed(3)
        theirs = speed_module().reference_translate(nets, x, "a2b")
        torch.manual_seed(3)
        ours = trainer.method.translate(nets, x, "a2b", style=torch.randn(x.shape[0], cfg.gen.style_dim, 1, 1))
    assert not torch.equal(x[:, :3], theirs)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-6)
