"""Activation checkpointing (`checkpoint_activations`): less kept for backward, the same updates."""

from __future__ import annotations

import pytest
import torch

from munit.nets.recompute import checkpoint_blocks
from munit.training.loop import Trainer

from helpers import step_inputs, tiny_config

CPU = torch.device("cpu")


def saved_bytes(fn) -> int:
    """Bytes of the tensors autograd keeps for backward while `fn` runs (each storage once)."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def test_checkpointed_generator_keeps_less_for_backward_and_gives_the_same_gradients():
    cfg = tiny_config(**{"new_size": 64, "crop_image_height": 64, "crop_image_width": 64})
    results = []
    for level in ("none", "gen"):
        trainer = Trainer(tiny_config(**{**cfg.to_dict(), "checkpoint_activations": level}), CPU)
        gen = trainer.nets["gen_a"]
        x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))

        def loss(gen=gen, x=x):
            content, style = gen.encode(x)
            return gen.decode(content, style).square().mean()

        kept = saved_bytes(loss)
        loss().backward()
        results.append((kept, {n: p.grad for n, p in gen.named_parameters()}))
    (plain_kept, plain_grads), (kept, grads) = results
    assert kept < plain_kept / 2, (kept, plain_kept)  # 2.8x less at this size.
    for name, grad in plain_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("method, nets", [("pix2pix", {"gen": {"norm": "bn"}}), ("munit", {"dis": {"norm": "sn"}})])
def test_state_changed_in_forward_is_that_of_the_plain_run(method, nets):
    """Batch norm's running statistics and spectral norm's power-iteration vectors change when a block runs;
    the recomputation in backward must neither change them again nor run from later values."""
    states = {}
    for level in ("none", "all"):
        trainer = Trainer(tiny_config(method=method, checkpoint_activations=level, **nets), CPU)
        torch.manual_seed(0)
        for i in range(2):
            trainer.step(*step_inputs(trainer.cfg, 1 + i, 2 + i))
        states[level] = {f"{n}.{k}": v for n, net in trainer.nets.items() for k, v in net.state_dict().items()}
    mutable = [k for k in states["none"] if k.endswith(("running_mean", "weight_u"))]
    assert mutable, "the config has no batch norm or spectral norm to check"
    for key, value in states["none"].items():
        torch.testing.assert_close(states["all"][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_blocks_are_found_at_the_level_of_conv_blocks():
    trainer = Trainer(tiny_config(), CPU)
    names = checkpoint_blocks(trainer.nets["gen_a"])
    assert "enc_content.model.0" in names  # The first conv block of the content encoder,
    assert "dec.model.0.model.0.model.1" in names  # a conv block inside a residual block of the decoder,
    assert not any(name.startswith("mlp") for name in names)  # and the style MLP has no convolution.
    assert checkpoint_blocks(trainer.nets["gen_a"]) == names  # Applying it twice wraps nothing twice.
    with torch.no_grad():  # And without autograd it runs the plain forward.
        x = torch.zeros(1, 3, 32, 32)
        assert trainer.nets["gen_a"].encode(x)[0].shape[0] == 1
