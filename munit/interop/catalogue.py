"""Released generators of other codebases by name (`cyclegan/horse2zebra`, `pix2pix/facades_label2photo`,
`cut/horse2zebra`): where the authors host each file, fetched once into the torch hub cache and checked there.

All are BSD-licensed releases: junyanz/pytorch-CycleGAN-and-pix2pix (scripts/download_cyclegan_model.sh,
scripts/download_pix2pix_model.sh) and taesungp/contrastive-unpaired-translation (README: one archive,
pretrained_models.tar, holding `checkpoints/<name>_pretrained/latest_net_G.pth` per model). A file is
checked against the size and SHA-256 listed here where the catalogue has them; this catalogue was written
on a machine that cannot reach the authors' server, so most entries have none yet: a fetch prints the hash
it computed, to be pinned here, and records it beside the cached file, which must hash so at every later
use (trust on first use).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from munit.interop.cyclegan import read_generator
from munit.training.checkpoint import CheckpointError
from munit.utils import atomic_write_text

CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{}.pth"
PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{}.pth"
CUT_URL = "http://efrosgans.eecs.berkeley.edu/CUT/pretrained_models.tar"
TIMEOUT_S = 20  # Per read.
DEADLINE_S = 30 * 60  # A whole download: a server trickling bytes cannot hold a fetch for ever.
MAX_BYTES = 2 * 2 ** 30  # A download (or an archive's member) whose size the catalogue does not list.


@dataclass(frozen=True)
class Entry:
    """One released generator: its URL (an archive when `member` names the file inside it), licence and
    source; `size` (bytes) and `sha256` of the downloaded file (the archive's, for an archive) where known."""

    url: str
    source: str
    note: str = ""
    member: str | None = None
    size: int | None = None
    sha256: str | None = None
    licence: str = "BSD"
    pinned_from: str = "the catalogue"  # Where the expected size and hash come from, for the error message.


CYCLEGAN_SOURCE = "junyanz/pytorch-CycleGAN-and-pix2pix"
CUT_SOURCE = "taesungp/contrastive-unpaired-translation"
CATALOGUE: dict[str, Entry] = {
    **{f"cyclegan/{name}": Entry(CYCLEGAN_URL.format(name), CYCLEGAN_SOURCE, "resnet_9blocks, 256 px")
       for name in ("apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite", "horse2zebra",
                    "zebra2horse", "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh",
                    "sat2map", "map2sat", "cityscapes_photo2label", "cityscapes_label2photo", "facades_photo2label",
                    "facades_label2photo", "iphone2dslr_flower")},
    **{f"pix2pix/{name}": Entry(PIX2PIX_URL.format(name), CYCLEGAN_SOURCE, "unet_256, batch norm")
       for name in ("edges2shoes", "map2sat", "facades_label2photo", "day2night")},
    # Size and SHA-256 of a third-party copy of the released file: expected, not the authors' own figures.
    "cyclegan/apple2orange": Entry(CYCLEGAN_URL.format("apple2orange"), CYCLEGAN_SOURCE, "resnet_9blocks, 256 px",
                                   size=45575747,
                                   sha256="ff989c98f3a077cd11c2623ed8742e2ef147e81d10b4e4c2ee6935796bda957a",
                                   pinned_from="a third-party copy of the released file"),
    # The size a third-party download log shows for this file (217,704,720 bytes: unet_256's 54.4 M floats).
    "pix2pix/sat2map": Entry(PIX2PIX_URL.format("sat2map"), CYCLEGAN_SOURCE, "unet_256, batch norm", size=217704720,
                             pinned_from="a third-party download log"),
    **{f"{kind}/{name}": Entry(CUT_URL, CUT_SOURCE, f"{label}, antialiased resnet_9blocks",
                               member=f"checkpoints/{name}_{kind}_pretrained/latest_net_G.pth")
       for kind, label in (("cut", "CUT"), ("fastcut", "FastCUT"))
       for name in ("horse2zebra", "cat2dog", "cityscapes")},
}


def is_name(path: object) -> bool:
    return isinstance(path, str) and path in CATALOGUE


def cache_path(name: str) -> Path:
    """Where a catalogued generator lives once fetched: <torch hub dir>/checkpoints/munit/<kind>_<name>.pth."""
    return Path(torch.hub.get_dir()) / "checkpoints" / "munit" / (name.replace("/", "_") + ".pth")


def fetch(name: str, progress: bool = True) -> Path:
    """The cached file of catalogued model `name`, downloaded first if needed (checked against the size and
    hash the catalogue lists); CheckpointError with the URL and cache path to fetch it by hand otherwise."""
    entry, target = CATALOGUE[name], cache_path(name)
    by_hand = f"fetch {entry.url} and save it as {target}"
    if entry.member:
        by_hand = f"fetch {entry.url}, and save its {entry.member} as {target}"
    if target.is_file():
        if entry.member is None and entry.sha256 is not None:
            _check(target, entry, name, by_hand)  # A file damaged in the cache is deleted and named.
        else:
            _check_first_use(target, name)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_fetches(target.parent)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        download = Path(tmp) / "download"
        try:
            _download(entry.url, download, progress, entry.size or MAX_BYTES)
        except (urllib.error.URLError, OSError, TimeoutError, DownloadRefused) as e:
            reason = getattr(e, "reason", None) or e
            raise CheckpointError(f"{name}: not in the cache and the download failed ({reason}); {by_hand}") from None
        digest = _check(download, entry, name, by_hand)
        if entry.sha256 is None:
            warnings.warn(f"{name}: the catalogue lists no SHA-256 for {entry.url}; the downloaded file's is "
                          f"{digest} (compare it with a copy you trust)", stacklevel=2)
        if entry.member:
            _extract(download, entry.member, Path(tmp) / "member", name, by_hand)
            download = Path(tmp) / "member"
        try:  # Only a file that reads as a generator goes into the cache.
            read_generator(download)
        except CheckpointError as e:
            raise CheckpointError(f"{name}: the download from {entry.url} is no generator file "
                                  f"({str(e).removeprefix(str(download) + ': ')}); nothing kept; {by_hand}") from None
        recorded = digest if entry.member is None else _sha256(download)
        os.replace(download, target)
        atomic_write_text(_digest_file(target), recorded + "\n")
    return target


def _digest_file(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _check_first_use(target: Path, name: str) -> None:
    """Trust on first use: a cached file whose hash the catalogue does not list must still hash as it did
    when it was fetched (recorded beside it then; a file cached before this check is recorded now)."""
    recorded_file, digest = _digest_file(target), _sha256(target)
    if not recorded_file.is_file():
        atomic_write_text(recorded_file, digest + "\n")
        return
    recorded = recorded_file.read_text().strip()
    if digest != recorded:
        raise CheckpointError(f"{name}: {target} changed since it was fetched (SHA-256 {digest}, recorded "
                              f"{recorded}): damaged or replaced; delete it and {recorded_file.name}, and it is "
                              "fetched again")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class DownloadRefused(Exception):
    """What the server sent is not the file: too large, too slow, cut short, or a web page."""


def _download(url: str, path: Path, progress: bool, limit: int) -> None:
    """Stream `url` into `path`: at most `limit` bytes, within DEADLINE_S in all, all the bytes the server
    announced, and not a web page (a portal's or an error's, served with status 200)."""
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        if response.headers.get_content_type() == "text/html":
            raise DownloadRefused("the server answered with a web page, not the file")
        if total is not None and total > limit:
            raise DownloadRefused(f"the server announces {total:,} bytes, more than the {limit:,} expected")
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {url.rsplit('/', 1)[-1]}",
                  disable=not progress) as bar:
            while chunk := response.read1(min(1 << 20, limit + 1 - received)):  # Returns what has arrived.
                received += len(chunk)
                if received > limit:
                    raise DownloadRefused(f"more than the {limit:,} bytes expected")
                if time.monotonic() - start > DEADLINE_S:
                    raise DownloadRefused(f"not finished within {DEADLINE_S} s ({received:,} bytes received)")
                out.write(chunk)
                bar.update(len(chunk))
        if total is not None and received < total:
            raise DownloadRefused(f"cut short: {received:,} of {total:,} bytes")


def _remove_stale_fetches(folder: Path) -> None:
    """Temporary folders of fetches that a killed process left, once no fetch could still be using them."""
    for stale in folder.glob(".fetch-*"):
        try:
            if time.time() - stale.stat().st_mtime > 2 * DEADLINE_S:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def _check(path: Path, entry: Entry, name: str, by_hand: str) -> str:
    """The file's SHA-256, after checking it and its size against the entry; a file that fails is deleted."""
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        path.unlink()
        raise CheckpointError(f"{name}: {path} has {size:,} bytes, expected {entry.size:,} (from "
                              f"{entry.pinned_from}); nothing kept; {by_hand}")
    digest = _sha256(path)
    if entry.sha256 is not None and digest != entry.sha256:
        path.unlink()
        raise CheckpointError(f"{name}: SHA-256 of {path} is {digest}, expected {entry.sha256} (from "
                              f"{entry.pinned_from}); nothing kept; {by_hand}")
    return digest


def _extract(archive: Path, member: str, out: Path, name: str, by_hand: str) -> None:
    """Copy one regular file out of a tar archive (nothing else is written, whatever the archive holds)."""
    try:
        with tarfile.open(archive, mode="r:") as tar:  # The release is a plain tar: no decompression bomb.
            info = tar.getmember(member)
            source = tar.extractfile(info) if info.isfile() else None
            if source is None:
                raise KeyError(member)
            if info.size > MAX_BYTES:
                raise CheckpointError(f"{name}: {member} in {archive.name} has {info.size:,} bytes, more than "
                                      f"any generator ({MAX_BYTES:,}); {by_hand}")
            with source, open(out, "wb") as f:
                shutil.copyfileobj(source, f)
    except tarfile.ReadError:
        raise CheckpointError(f"{name}: {CATALOGUE[name].url} is not a plain tar archive (the release is one; a "
                              f"compressed one is not unpacked); {by_hand}") from None
    except (tarfile.TarError, KeyError):
        raise CheckpointError(f"{name}: {archive.name} from {CATALOGUE[name].url} has no file {member}; "
                              f"{by_hand}") from None
