"""Fader networks (the registry's checks in test_registry.py cover training, resume, export and translation)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from munit.api import Translator
from munit.config import ConfigError, UnusedKeyWarning
from munit.data import batches, build_data
from munit.data.domains import BUILTIN_DOMAINS
from munit.data.images import DataError
from munit.errors import UsageError
from munit.eval.evaluate import evaluate
from munit.methods.fader import Fader
from munit.nets.fader import Decoder, LatentDiscriminator
from munit.training.loop import train

from helpers import step_inputs, tiny_config, write_image

CPU = torch.device("cpu")


def fader(**overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedKeyWarning)
        return tiny_config(method="fader", **{"gen": {"dim": 4, "mlp_dim": 8, "n_downsample": 2}, **overrides})


def test_the_decoder_reads_the_attributes_at_every_layer_and_the_discriminator_one_logit_each():
    dec = Decoder(3, 4, 16, layers=3, attributes=5)
    assert [layer[0].in_channels for layer in dec.layers] == [16 + 5, 8 + 5, 4 + 5]
    z = torch.randn(2, 16, 4, 4, generator=torch.Generator().manual_seed(0))
    dec.eval()
    red, blue = (dec(z, F.one_hot(torch.tensor([k, k]), 5).float()) for k in (0, 3))
    assert red.shape == (2, 3, 32, 32) and red.abs().max() <= 1 and not torch.allclose(red, blue)
    dis = LatentDiscriminator(4, 16, layers=3, size=32, attributes=5, hidden=8, dropout=0.3).eval()
    assert len(dis.convs) == 2 and dis(z).shape == (2, 5)  # 4 x 4 -> 2 x 2 -> 1 x 1, then the logits.


def test_losses_the_discriminator_reads_the_attribute_and_the_encoder_is_pushed_to_another_one():
    cfg = fader(lat_dis_w=0.5, lat_dis_schedule=10)
    method = Fader(cfg)
    nets = method.build_networks()
    x_a, x_b = step_inputs(cfg, 1, 2)
    assert x_b == ()  # No references: sources and their domains only.
    fakes = method.dis_fakes(nets, x_a, x_b)
    assert nets["enc"].training  # The latent was read in eval mode (as the official step), then train again.
    nets["enc"].eval()
    torch.testing.assert_close(fakes["lat_dis"], nets["enc"](x_a[0]))
    nets["enc"].train()
    nets["lat_dis"].eval()  # No dropout: the losses can be recomputed.
    loss, terms = method.discriminator_loss(nets, x_a, x_b, fakes)
    torch.testing.assert_close(loss, F.cross_entropy(nets["lat_dis"](fakes["lat_dis"]), x_a[1]))
    torch.manual_seed(0)
    gen_pass = method.generator_pass(nets, x_a, x_b)
    flipped = gen_pass.flipped[:, 0]  # One attribute group: the domain.
    assert (flipped != x_a[1]).all() and flipped.max() < len(BUILTIN_DOMAINS)
    weights = []
    for it in (0, 5, 10, 20):
        method.iteration = it
        weights.append(method.lat_dis_weight())
    assert weights == [0.0, 0.25, 0.5, 0.5]
    nets["lat_dis"].train()  # As in training; the encoder's push reads it in eval mode (the official step).
    total, logged = method.generator_loss(nets, gen_pass)
    assert not nets["lat_dis"].training  # Until the trainer's next step: a recomputing backward sees eval mode.
    adv = F.cross_entropy(nets["lat_dis"](gen_pass.fakes["lat_dis"]), flipped)
    recon = gen_pass.terms["recon_x"]
    assert recon.weight == cfg.recon_x_w
    torch.testing.assert_close(total, recon.weight * recon.value + 0.5 * adv)


def test_batches_hold_sources_and_their_domains_only():
    cfg = fader(batch_size=3)
    (x, y), refs = next(batches(cfg, build_data(cfg, "train", Fader), 0, CPU, Fader))
    assert x.shape == (3, 3, 32, 32) and y.dtype == torch.long and refs == ()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("fader") / "run"
    train(fader(max_iter=2), run, CPU, progress=False)
    return Translator.from_pretrained(run, device="cpu")


def test_sliders_edit_images_through_the_api(trained):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    blue = trained.edit(x, {"blue": 1.0})
    torch.testing.assert_close(blue, trained.translate(x, "blue"))  # Translating into a domain: its one-hot.
    half = trained.edit(x, {"blue": 0.5, "red": 0.5})
    assert half.shape == x.shape and not torch.allclose(half, blue)
    with pytest.raises(UsageError, match="has the attributes red, yellow, green, blue, purple; not teal"):
        trained.edit(x, {"teal": 1.0})


def test_a_batch_of_one_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="'batch_size' is 1; Fader networks need at least 2"):
        fader(batch_size=1)


# Binary attributes from a labels file.

def labelled_folder(root, rows: dict[str, list[str]], header="image,smiling,glasses"):
    """Images under root/train and root/test, and root/attributes.csv listing them with `rows` values."""
    lines = [header]
    for i, (name, values) in enumerate(rows.items()):
        write_image(root / name, size=(36, 36), seed=i)
        lines.append(",".join([name, *values]))
    (root / "attributes.csv").write_text("\n".join(lines) + "\n")
    return root


ROWS = {"train/0.png": ["1", "-1"], "train/1.png": ["-1", "1"], "train/2.png": ["0", "0"],
        "train/sub/3.png": ["1", "1"], "test/0.png": ["1", "0"], "test/1.png": ["0", "1"]}


def labelled(root, **overrides):
    return fader(data_root=str(root), attributes_file=str(root / "attributes.csv"), **overrides)


def test_attributes_are_the_files_columns_with_their_values_per_split(tmp_path):
    cfg = labelled(labelled_folder(tmp_path, ROWS))
    method = Fader(cfg)
    assert method.domains == ("smiling", "glasses") and method.groups == [2, 2]
    train_data, test_data = (build_data(cfg, split, Fader) for split in ("train", "test"))
    assert [p.relative_to(tmp_path).as_posix() for p in train_data.parts[0].paths] == list(ROWS)[:4]
    assert train_data.labels.tolist() == [[1, 0], [0, 1], [0, 0], [1, 1]]  # -1 is "has not", as 0.
    assert test_data.labels.tolist() == [[1, 0], [0, 1]]
    (x, y), refs = next(batches(cfg, train_data, 0, CPU, Fader))
    assert x.shape == (2, 3, 32, 32) and y.shape == (2, 2) and refs == ()
    assert Fader(labelled(tmp_path, domains="glasses")).domains == ("glasses",)  # One attribute of several.
    assert build_data(labelled(tmp_path, domains="glasses"), "train", Fader).labels.tolist() == [[0], [1], [0], [1]]


def test_binary_attributes_are_one_hot_pairs_the_encoder_is_pushed_to_flip_each(tmp_path):
    cfg = labelled(labelled_folder(tmp_path, ROWS), lat_dis_w=1.0, lat_dis_schedule=1)
    method = Fader(cfg)
    method.iteration = 1
    nets = method.build_networks()
    assert nets["dec"].layers[0][0].in_channels == nets["enc"].layers[-1][0].out_channels + 4
    y = torch.tensor([[1, 0], [0, 1]])
    assert method.code(y).tolist() == [[0, 1, 1, 0], [1, 0, 0, 1]]
    torch.testing.assert_close(method.slider_code(torch.tensor([[0.25, 1.0]])), torch.tensor([[0.75, 0.25, 0, 1]]))
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    nets["lat_dis"].eval()
    fakes = method.dis_fakes(nets, (x, y), ())
    logits = nets["lat_dis"](fakes["lat_dis"])
    loss, _ = method.discriminator_loss(nets, (x, y), (), fakes)
    torch.testing.assert_close(loss, F.cross_entropy(logits[:, :2], y[:, 0]) + F.cross_entropy(logits[:, 2:], y[:, 1]))
    gen_pass = method.generator_pass(nets, (x, y), ())
    assert gen_pass.flipped.tolist() == [[0, 1], [1, 0]]


def test_a_model_of_attributes_trains_edits_with_sliders_and_exports_them(tmp_path):
    root = labelled_folder(tmp_path / "data", ROWS)
    run = tmp_path / "run"
    train(labelled(root, max_iter=2), run, CPU, progress=False)
    model = Translator.from_pretrained(run, device="cpu")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    smiling = model.edit(x, {"smiling": 1.0})
    torch.testing.assert_close(smiling, model.translate(x, "smiling"))
    without = model.edit(x, {"smiling": 0.0, "glasses": 0.0})
    assert not torch.allclose(smiling, without)
    with pytest.raises(UsageError, match="has the attributes smiling, glasses; not beard"):
        model.edit(x, {"beard": 1.0})
    (root / "attributes.csv").unlink()  # A trained model needs its labels file no more.
    again = Translator.from_pretrained(run, device="cpu")
    torch.testing.assert_close(again.edit(x, {"glasses": 0.5}), model.edit(x, {"glasses": 0.5}))
    with pytest.raises(UsageError, match="binary attributes"):
        evaluate(run, "builtin-domains", progress=False)


@pytest.mark.parametrize("content, message", [
    ("image,smiling\ntrain/0.png,1\ntrain/1.png,2\n", r"attributes.csv:3: attribute 'smiling' is '2'; expected 1"),
    ("image,smiling\ntrain/0.png,1\ntrain/9.png,0\n", r"attributes.csv:3: image .*train/9.png not found"),
    ("image,smiling\ntrain/0.png,1\nval/1.png,0\n", r"attributes.csv:3: image 'val/1.png': expected a path under"),
    ("image,smiling\ntrain/0.png,1\n../x.png,0\n", r"attributes.csv:3: image '../x.png': expected a path under"),
    ("image,smiling\ntrain/0.png,1,1\n", r"attributes.csv:2: 3 fields; the header has 2"),
    ("file,smiling\ntrain/0.png,1\n", r"header 'file,smiling': expected 'image'"),
    ("", r"header '': expected 'image'"),
    ("image,smiling\ntrain/0.png,1\n", r"1 image\(s\) under train/; need at least 2"),
    (b"image,smiling\ntrain/0.png,\xff\n", r"attributes.csv: not UTF-8 text"),
    ("image,smiling\ntrain/0.png," + "1" * 200_000 + "\n", r"attributes.csv:2: not CSV \(field larger"),
])
def test_a_bad_labels_file_is_refused_naming_its_line(tmp_path, content, message):
    write_image(tmp_path / "train/0.png", size=(36, 36))
    write_image(tmp_path / "train/1.png", size=(36, 36))
    path = tmp_path / "attributes.csv"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    with pytest.raises(DataError, match=message):
        build_data(labelled(tmp_path), "train", Fader)


def test_attributes_file_mistakes_are_refused_naming_the_key_or_file(tmp_path):
    labelled_folder(tmp_path, ROWS)
    with pytest.raises(DataError, match=r"no attribute column 'beard' \(the columns are smiling, glasses\)"):
        build_data(labelled(tmp_path, domains="smiling,beard"), "train", Fader)
    with pytest.raises(DataError, match="nowhere.csv: attributes file not found"):
        Fader(fader(data_root=str(tmp_path), attributes_file=str(tmp_path / "nowhere.csv")))
    with pytest.raises(DataError, match="needs data_root"):
        build_data(fader(attributes_file=str(tmp_path / "attributes.csv")), "train", Fader)
    with pytest.raises(ConfigError, match="'attributes_file' is .*only method fader reads attributes"):
        tiny_config(data_root=str(tmp_path), attributes_file=str(tmp_path / "attributes.csv"))
