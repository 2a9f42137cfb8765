"""Released generators of other codebases by name (`cyclegan/horse2zebra`, `pix2pix/facades_label2photo`,
`cut/horse2zebra`): where the authors host each file, fetched once into the torch hub cache and checked there.

All are BSD-licensed releases: junyanz/pytorch-CycleGAN-and-pix2pix (scripts/download_cyclegan_model.sh,
scripts/download_pix2pix_model.sh) and taesungp/contrastive-unpaired-translation (README: one archive,
pretrained_models.tar, holding `checkpoints/<name>_pretrained/latest_net_G.pth` per model). A file is
checked against the size and SHA-256 listed here where the catalogue has them; this catalogue was written
on a machine that cannot reach the authors' server, so most entries have none yet and a fetch prints the
hash it computed, to be pinned here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from munit.training.checkpoint import CheckpointError

CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{}.pth"
PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{}.pth"
CUT_URL = "http://efrosgans.eecs.berkeley.edu/CUT/pretrained_models.tar"
TIMEOUT_S = 20


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
    # The size a third-party download log shows for this file (217,704,720 bytes: unet_256's 54.4 M floats).
    "pix2pix/sat2map": Entry(PIX2PIX_URL.format("sat2map"), CYCLEGAN_SOURCE, "unet_256, batch norm", size=217704720),
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
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        download = Path(tmp) / "download"
        try:
            _download(entry.url, download, progress)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reason = getattr(e, "reason", None) or e
            raise CheckpointError(f"{name}: not in the cache and the download failed ({reason}); {by_hand}") from None
        digest = _check(download, entry, name, by_hand)
        if entry.sha256 is None:
            warnings.warn(f"{name}: the catalogue lists no SHA-256 for {entry.url}; the downloaded file's is "
                          f"{digest} (compare it with a copy you trust)", stacklevel=2)
        if entry.member:
            _extract(download, entry.member, Path(tmp) / "member", name, by_hand)
            download = Path(tmp) / "member"
        os.replace(download, target)
    return target


def _download(url: str, path: Path, progress: bool) -> None:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {url.rsplit('/', 1)[-1]}",
                  disable=not progress) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))


def _check(path: Path, entry: Entry, name: str, by_hand: str) -> str:
    """The file's SHA-256, after checking it and its size against the entry; a file that fails is deleted."""
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        path.unlink()
        raise CheckpointError(f"{name}: {path} has {size:,} bytes, expected {entry.size:,}; "
                              f"nothing kept; {by_hand}")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if entry.sha256 is not None and digest.hexdigest() != entry.sha256:
        path.unlink()
        raise CheckpointError(f"{name}: SHA-256 of {path} is {digest.hexdigest()}, expected {entry.sha256}; "
                              f"nothing kept; {by_hand}")
    return digest.hexdigest()


def _extract(archive: Path, member: str, out: Path, name: str, by_hand: str) -> None:
    """Copy one regular file out of a tar archive (nothing else is written, whatever the archive holds)."""
    try:
        with tarfile.open(archive) as tar:
            info = tar.getmember(member)
            source = tar.extractfile(info) if info.isfile() else None
            if source is None:
                raise KeyError(member)
            with source, open(out, "wb") as f:
                shutil.copyfileobj(source, f)
    except (tarfile.TarError, KeyError):
        raise CheckpointError(f"{name}: {archive.name} from {CATALOGUE[name].url} has no file {member}; "
                              f"{by_hand}") from None
