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


def test_a_block_with_state_can_be_recomputed_by_two_backward_passes():
    """A gradient penalty (autograd.grad with create_graph) then the loss's backward recompute each block twice
    through one graph; batch-norm statistics and gradients stay those of the plain network."""
    from torch import nn

    from munit.nets.blocks import Conv2dBlock

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.ModuleList([Conv2dBlock(3, 4, 3, 1, 1, "bn", "lrelu"), Conv2dBlock(4, 1, 3, 1, 1, "bn")])

        def forward(self, x):
            for block in self.model:
                x = block(x)
            return x

    results = []
    for recompute in (False, True):
        torch.manual_seed(0)
        net = Net()
        if recompute:
            assert checkpoint_blocks(net) == ["model.0", "model.1"]
        x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
        out = net(x).square().mean()
        (grad,) = torch.autograd.grad(out, x, create_graph=True)
        (out + grad.square().sum()).backward()
        results.append({**{n: p.grad for n, p in net.named_parameters()}, **dict(net.named_buffers())})
    for key, value in results[0].items():
        torch.testing.assert_close(results[1][key], value, rtol=1e-5, atol=1e-7, msg=key)


def test_compile_with_checkpointing_is_refused_in_one_line():
    from munit.config import ConfigError

    with pytest.raises(ConfigError, match="checkpoint_activations.*expected none with compile: true"):
        tiny_config(compile=True, checkpoint_activations="gen")
