"""Released models by name: fetched over real HTTP from a local server into the torch hub cache, checked
against the catalogue's hash, refused with what to fetch by hand when offline or wrong."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
import time
import warnings

import pytest
import torch

from munit.api import Translator
from munit.interop import catalogue
from munit.interop.catalogue import CATALOGUE, Entry, cache_path
from munit.interop.cyclegan import to_official
from munit.nets.baselines import ResnetGenerator
from munit.training.checkpoint import CheckpointError


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home"


@pytest.fixture
def server(tmp_path):
    """A local HTTP server of the folder `served`; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def released_generator(antialias: bool = False) -> tuple[bytes, ResnetGenerator]:
    """A small generator saved as the official code saves it, and the network itself."""
    torch.manual_seed(0)
    net = ResnetGenerator(3, 3, 8, 2, 3, antialias=antialias).eval()
    buffer = io.BytesIO()
    torch.save(to_official(net.state_dict(), net), buffer)
    return buffer.getvalue(), net


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/horse2zebra.pth"  # Nothing listens there: connection refused.


def test_offline_a_name_stops_at_once_with_what_to_fetch_and_where(hub, monkeypatch):
    url = closed_port_url()
    monkeypatch.setitem(CATALOGUE, "cyclegan/horse2zebra", Entry(url, "test"))
    with pytest.raises(CheckpointError) as error:
        Translator.from_pretrained("cyclegan/horse2zebra", device="cpu")
    message = str(error.value)
    assert message.startswith("cyclegan/horse2zebra: not in the cache and the download failed")
    assert f"fetch {url} and save it as {cache_path('cyclegan/horse2zebra')}" in message
    assert str(hub) in message and "\n" not in message
    assert not cache_path("cyclegan/horse2zebra").exists()


def test_a_download_is_checked_cached_and_used_offline_after(hub, server, monkeypatch):
    folder, base = server
    data, net = released_generator()
    (folder / "horse2zebra.pth").write_bytes(data)
    entry = Entry(f"{base}/horse2zebra.pth", "test", size=len(data), sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(CATALOGUE, "cyclegan/horse2zebra", entry)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    translator = Translator.from_pretrained("cyclegan/horse2zebra", device="cpu")
    torch.testing.assert_close(translator.translate(x), net(x).detach(), rtol=0, atol=1e-6)
    assert cache_path("cyclegan/horse2zebra").read_bytes() == data
    assert cache_path("cyclegan/horse2zebra").is_relative_to(hub)
    (folder / "horse2zebra.pth").unlink()  # The server has it no more: the cache serves.
    again = Translator.from_pretrained("cyclegan/horse2zebra", device="cpu")
    torch.testing.assert_close(again.translate(x), net(x).detach(), rtol=0, atol=1e-6)
    cache_path("cyclegan/horse2zebra").write_bytes(data[:-10] + b"0123456789")  # Damaged in the cache.
    with pytest.raises(CheckpointError, match="SHA-256 of .* expected"):
        Translator.from_pretrained("cyclegan/horse2zebra", device="cpu")
    assert not cache_path("cyclegan/horse2zebra").exists()


@pytest.mark.parametrize("wrong", ["sha256", "size"])
def test_a_download_with_the_wrong_hash_or_size_is_refused_and_not_kept(hub, server, monkeypatch, wrong):
    folder, base = server
    data, _ = released_generator()
    (folder / "horse2zebra.pth").write_bytes(data)
    right = Entry(f"{base}/horse2zebra.pth", "test", size=len(data), sha256=hashlib.sha256(data).hexdigest())
    entry = (Entry(right.url, "test", size=right.size, sha256="0" * 64) if wrong == "sha256"
             else Entry(right.url, "test", size=len(data) + 1, sha256=right.sha256))
    monkeypatch.setitem(CATALOGUE, "cyclegan/horse2zebra", entry)
    expected = f"expected {'0' * 64}" if wrong == "sha256" else f"expected {len(data) + 1:,}"
    with pytest.raises(CheckpointError, match=expected) as error:
        Translator.from_pretrained("cyclegan/horse2zebra", device="cpu")
    assert f"nothing kept; fetch {right.url} and save it as" in str(error.value)
    assert not cache_path("cyclegan/horse2zebra").exists()
    assert list(cache_path("cyclegan/horse2zebra").parent.iterdir()) == []  # No partial download left.


def test_a_model_inside_an_archive_is_extracted_alone_and_an_unknown_hash_is_reported(hub, server, monkeypatch):
    folder, base = server
    data, net = released_generator(antialias=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, payload in (("checkpoints/horse2zebra_cut_pretrained/latest_net_G.pth", data),
                              ("checkpoints/horse2zebra_cut_pretrained/latest_net_D.pth", b"not wanted")):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    (folder / "pretrained_models.tar").write_bytes(buffer.getvalue())
    member = "checkpoints/horse2zebra_cut_pretrained/latest_net_G.pth"
    entry = Entry(f"{base}/pretrained_models.tar", "test", member=member)
    monkeypatch.setitem(CATALOGUE, "cut/horse2zebra", entry)
    with pytest.warns(UserWarning, match=f"lists no SHA-256 .* is {hashlib.sha256(buffer.getvalue()).hexdigest()}"):
        translator = Translator.from_pretrained("cut/horse2zebra", device="cpu")
    assert translator.cfg.method == "cut"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(translator.translate(x), net(x).detach(), rtol=0, atol=1e-6)
    assert sorted(p.name for p in cache_path("cut/horse2zebra").parent.iterdir()) == [
        "cut_horse2zebra.pth", "cut_horse2zebra.pth.sha256"]  # The file and its hash at first use.
    missing = "checkpoints/cat2dog/latest_net_G.pth"
    monkeypatch.setitem(CATALOGUE, "cut/cat2dog", Entry(entry.url, "test", member=missing))
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match=f"has no file {missing}"):
        catalogue.fetch("cut/cat2dog", progress=False)


def test_every_catalogued_model_names_its_source_and_an_official_url():
    assert len([n for n in CATALOGUE if n.startswith("cyclegan/")]) == 18
    assert {n for n in CATALOGUE if n.startswith("pix2pix/")} == {
        f"pix2pix/{n}" for n in ("edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night")}
    for name, entry in CATALOGUE.items():
        assert entry.url.startswith("http://efrosgans.eecs.berkeley.edu/"), name
        assert entry.licence == "BSD" and entry.source in (catalogue.CYCLEGAN_SOURCE, catalogue.CUT_SOURCE)
        assert (entry.member is not None) == name.startswith(("cut/", "fastcut/"))


class _Misbehaving(http.server.BaseHTTPRequestHandler):
    """A server that answers every GET the way its `mode` (the first path segment) says."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode = self.path.strip("/").split("/")[0]
        if mode == "html":
            body = b"<html><body>Please log in to the portal</body></html>"
            self._head(len(body), "text/html")
            self.wfile.write(body)
        elif mode == "huge":  # Announces 100 GB.
            self._head(100 * 2 ** 30)
            self.wfile.write(bytes(1024))
        elif mode == "short":  # Announces 100,000 bytes, sends 5,000 and hangs up.
            self._head(100_000)
            self.wfile.write(bytes(5000))
        elif mode == "trickle":  # One byte every 0.3 s.
            self._head(10 * 2 ** 20)
            for _ in range(100):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(0.3)
        elif mode == "junk":
            self._head(4096)
            self.wfile.write(bytes(range(256)) * 16)
        elif mode == "xz":  # The release's tar, compressed: its member is 64 MB of zeros.
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
                info = tarfile.TarInfo("checkpoints/horse2zebra_cut_pretrained/latest_net_G.pth")
                info.size = 64 * 2 ** 20
                tar.addfile(info, io.BytesIO(bytes(info.size)))
            self._head(len(buffer.getvalue()))
            self.wfile.write(buffer.getvalue())

    def _head(self, length: int, kind: str = "application/octet-stream") -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.end_headers()


@pytest.fixture
def misbehaving():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Misbehaving)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("mode, reason", [
    ("html", "the server answered with a web page, not the file"),
    ("huge", "the server announces 107,374,182,400 bytes, more than the 2,147,483,648 expected"),
    ("short", "cut short: 5,000 of 100,000 bytes"),
    ("trickle", "not finished within 2 s"),
    ("junk", "is no generator file"),
    ("xz", "is not a plain tar archive"),
])
def test_a_misbehaving_server_leaves_nothing_in_the_cache(hub, misbehaving, monkeypatch, mode, reason):
    """A real loopback server that sends a portal page, announces 100 GB, hangs up early, trickles a byte
    every 0.3 s, sends junk, or serves the archive xz-compressed (a 64 MB member in a few kB): the fetch
    stops with the reason and what to fetch by hand, and neither the cache nor a .fetch-* folder keeps
    anything (the trickle ran for ever, a cut-short file or a page was cached for every later run)."""
    monkeypatch.setattr(catalogue, "DEADLINE_S", 2)
    member = "checkpoints/horse2zebra_cut_pretrained/latest_net_G.pth" if mode == "xz" else None
    monkeypatch.setitem(CATALOGUE, "cut/horse2zebra", Entry(f"{misbehaving}/{mode}/file", "test", member=member))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # No SHA-256 listed: the hash is reported.
        with pytest.raises(CheckpointError) as error:
            Translator.from_pretrained("cut/horse2zebra", device="cpu")
    message = str(error.value)
    assert reason in message and "\n" not in message and "save it" in message
    assert list(cache_path("cut/horse2zebra").parent.iterdir()) == []


def test_a_cached_file_that_does_not_load_is_named_for_deletion(hub, monkeypatch):
    monkeypatch.setitem(CATALOGUE, "cyclegan/horse2zebra", Entry(closed_port_url(), "test"))
    cached = cache_path("cyclegan/horse2zebra")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"<html>an older download of a portal page</html>")
    with pytest.raises(CheckpointError, match=f"cached download of cyclegan/horse2zebra: delete {cached} and it "
                                              "is fetched again"):
        Translator.from_pretrained("cyclegan/horse2zebra", device="cpu")


def test_a_fetch_folder_a_killed_process_left_is_removed_once_no_fetch_can_use_it(hub, monkeypatch):
    monkeypatch.setitem(CATALOGUE, "cyclegan/horse2zebra", Entry(closed_port_url(), "test"))
    folder = cache_path("cyclegan/horse2zebra").parent
    old, recent = folder / ".fetch-old", folder / ".fetch-recent"
    for leftover in (old, recent):
        (leftover / "download").parent.mkdir(parents=True)
        (leftover / "download").write_bytes(bytes(100))
    past = time.time() - 2 * catalogue.DEADLINE_S - 60
    os.utime(old, (past, past))
    with pytest.raises(CheckpointError):
        catalogue.fetch("cyclegan/horse2zebra", progress=False)
    assert not old.exists() and recent.is_dir()  # Another fetch may still be writing into a recent one.


def test_a_cached_file_without_a_listed_hash_is_trusted_on_first_use_only(hub, server, monkeypatch):
    """No hash is published for most released files: the SHA-256 recorded at download catches a cached file
    that is damaged or replaced later."""
    folder, base = server
    data, net = released_generator()
    (folder / "horse2zebra.pth").write_bytes(data)
    monkeypatch.setitem(CATALOGUE, "cyclegan/horse2zebra", Entry(f"{base}/horse2zebra.pth", "test"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Translator.from_pretrained("cyclegan/horse2zebra", device="cpu")
    cached = cache_path("cyclegan/horse2zebra")
    assert (cached.parent / (cached.name + ".sha256")).read_text().strip() == hashlib.sha256(data).hexdigest()
    Translator.from_pretrained("cyclegan/horse2zebra", device="cpu")  # Unchanged: served from the cache.
    other, _ = released_generator(antialias=False)
    tampered = bytearray(other)
    tampered[-100] ^= 0xFF  # A flipped byte in the tensor data: still a loadable file.
    cached.write_bytes(bytes(tampered))
    with pytest.raises(CheckpointError, match="changed since it was fetched .* damaged or replaced; delete it"):
        Translator.from_pretrained("cyclegan/horse2zebra", device="cpu")


def test_apple2orange_carries_its_expected_size_and_a_different_file_says_what_differs(hub, server, monkeypatch):
    entry = CATALOGUE["cyclegan/apple2orange"]
    assert entry.size == 45_575_747 and entry.sha256.startswith("ff989c98f3a077cd")
    folder, base = server
    data, _ = released_generator()
    (folder / "apple2orange.pth").write_bytes(data)
    monkeypatch.setitem(CATALOGUE, "cyclegan/apple2orange", Entry(f"{base}/apple2orange.pth", entry.source,
                                                                  size=entry.size, sha256=entry.sha256,
                                                                  pinned_from=entry.pinned_from))
    with pytest.raises(CheckpointError, match=f"has {len(data):,} bytes, expected 45,575,747 \\(from a third-party "
                                              "copy of the released file\\); nothing kept"):
        Translator.from_pretrained("cyclegan/apple2orange", device="cpu")
