"""Model files fuzzed (hypothesis) through `Translator.from_pretrained`: random changes to a real generator
file's state dict (key names, shapes, dtypes, values) and to its zip (members dropped, re-compressed) give a
correct load or a one-line refusal, never a traceback, in bounded memory (issue 34)."""

from __future__ import annotations

import io
import resource
import zipfile

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from munit.api import Translator
from munit.errors import UserError
from munit.interop.cyclegan import to_official
from munit.nets.baselines import ResnetGenerator, UnetGenerator

PEAK_GROWTH_MB = 600  # Over the whole fuzz run: the largest network a mutated file can imply is built once.


def official_states() -> dict[str, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    resnet = ResnetGenerator(3, 3, 8, 2, 2).eval()
    unet = UnetGenerator(3, 3, 5, 8, dropout=False, norm="bn").eval()
    return {"resnet": to_official(resnet.state_dict(), resnet), "unet": to_official(unet.state_dict(), unet)}


STATES = official_states()
DTYPES = [torch.float16, torch.float64, torch.int64, torch.uint8, torch.bool, torch.bfloat16]

mutation = st.one_of(
    st.tuples(st.just("drop"), st.integers(0, 200)),
    st.tuples(st.just("rename"), st.integers(0, 200), st.sampled_from(["model.999.weight", "", "x", "model.1.w"])),
    st.tuples(st.just("shape"), st.integers(0, 200), st.lists(st.integers(0, 40), min_size=0, max_size=5)),
    st.tuples(st.just("dtype"), st.integers(0, 200), st.sampled_from(DTYPES)),
    st.tuples(st.just("value"), st.integers(0, 200), st.sampled_from([float("nan"), float("inf"), 1e30, -1e30, 0.0])),
    st.tuples(st.just("object"), st.integers(0, 200), st.sampled_from([None, 3, "text", [1, 2], {"a": 1}])),
)


def mutated(kind: str, mutations: list[tuple]) -> dict:
    state = dict(STATES[kind])
    for change in mutations:
        if not state:
            break
        key = list(state)[change[1] % len(state)]
        if change[0] == "drop":
            del state[key]
        elif change[0] == "rename":
            state[change[2]] = state.pop(key)
        elif change[0] == "shape":
            state[key] = torch.randn(*change[2]) if change[2] else torch.tensor(0.5)
        elif change[0] == "dtype":
            state[key] = state[key].to(change[2]) if isinstance(state[key], torch.Tensor) else state[key]
        elif change[0] == "value" and isinstance(state[key], torch.Tensor) and state[key].is_floating_point():
            state[key] = torch.full_like(state[key], change[2])
        elif change[0] == "object":
            state[key] = change[2]
    return state


def written(state: dict, container: str) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    if container == "stored":
        return data
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        members = src.infolist()
        for i, member in enumerate(members):
            if container == "member dropped" and i == len(members) // 2:
                continue
            dst.writestr(member.filename, src.read(member))
    return out.getvalue()


@pytest.fixture(scope="module")
def peak():
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start) / 1024  # kB on Linux.
    assert grown < PEAK_GROWTH_MB, f"peak memory grew by {grown:.0f} MB"


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(STATES)), mutations=st.lists(mutation, max_size=4),
       container=st.sampled_from(["stored", "deflated", "member dropped"]))
def test_fuzzed_generator_files_load_or_are_refused_in_one_line(peak, tmp_path_factory, kind, mutations, container):
    path = tmp_path_factory.mktemp("fuzz") / "model.pth"
    path.write_bytes(written(mutated(kind, mutations), container))
    try:
        translator = Translator.from_pretrained(path, device="cpu")
    except UserError as e:
        assert "\n" not in str(e) and len(str(e)) < 1000, str(e)
        return
    size = translator.cfg.crop_image_height
    y = translator.translate(torch.zeros(3, size, size))
    assert y.shape[0] == 3 and bool(torch.isfinite(y).all())
