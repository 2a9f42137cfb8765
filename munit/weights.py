"""Finding pretrained weight files, which munit never needs to train but some metrics do.

A file is looked for in: an explicit path (file or folder), a folder named by an environment variable, and
torch's hub cache (`torch.hub.get_dir()/checkpoints`, where torchvision and torch.hub download to). When it
is missing and `download` is set, it is fetched into the hub cache; when that fails (offline), the error
says which file, where it comes from and where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from munit.errors import UserError


class WeightsMissing(UserError, FileNotFoundError):
    """A pretrained weight file is needed and was not found."""


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(file_name: str, url: str, purpose: str, path: str | Path | None = None,
                 env_var: str | None = None, download: bool = True, other_names: tuple[str, ...] = (),
                 missing: type[WeightsMissing] = WeightsMissing) -> Path:
    """The weight file `file_name`: `path` (a file, or a folder holding it or one of `other_names`), else the
    folder or file $`env_var` names, else the hub cache, else downloaded into the cache when `download`.
    `missing` (a WeightsMissing) says which file, from where, and where to put it."""
    candidates = []
    for base in (path, os.environ.get(env_var) if env_var else None):
        if base:
            base = Path(base).expanduser()
            candidates += [base / n for n in (file_name, *other_names)] if base.is_dir() else [base]
    target = hub_checkpoints() / file_name
    candidates.append(target)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if download:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(target), progress=False)
            return target
        except Exception:  # Offline, proxy, disk: the message below says what to do by hand.
            target.unlink(missing_ok=True)
    where = f" (or set ${env_var} to its folder)" if env_var else ""
    raise missing(f"{purpose} needs {file_name}, not found at {', '.join(map(str, candidates))}; "
                         f"download it from {url} and put it at {target}{where}")
