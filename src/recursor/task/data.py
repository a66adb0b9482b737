"""Finding a task's data files: verified by SHA-256 wherever they come from.

Where a file is looked for, in order:

1. `$RECURSOR_DATA/<file>`, when the variable is set (an explicit choice wins);
2. the user cache, `$XDG_CACHE_HOME/recursor/data` (default `~/.cache/recursor/data`);
3. the canonical URL, downloaded into the cache (skipped when `RECURSOR_OFFLINE=1`);
4. a `shared/data` folder beside the current folder or beside the source checkout
   (`../shared/data`), which is how offline machines and CI carry the files.

A copy whose hash differs from the task's is never used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from recursor.errors import DataError
from recursor.task.spec import DataSpec

DOWNLOAD_TIMEOUT = 20.0


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "recursor" / "data"


def _fallback_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("RECURSOR_DATA"):
        dirs.append(Path(os.environ["RECURSOR_DATA"]))
    dirs.append(cache_dir())
    return dirs


def _shared_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    checkout = here.parents[3]  # src/recursor/task/data.py -> the checkout
    return [Path.cwd().parent / "shared" / "data", checkout.parent / "shared" / "data"]


def resolve(spec: DataSpec) -> Path:
    """The path of a verified copy of `spec`'s file. Raises DataError saying where it looked."""
    looked: list[str] = []
    for folder in _fallback_dirs():
        found = _verified(folder / spec.file, spec, looked)
        if found:
            return found
    if spec.url and os.environ.get("RECURSOR_OFFLINE") != "1":
        try:
            return _download(spec)
        except (OSError, urllib.error.URLError, DataError) as err:
            looked.append(f"{spec.url} ({err})")
    for folder in _shared_dirs():
        found = _verified(folder / spec.file, spec, looked)
        if found:
            return found
    raise DataError(
        f"data file {spec.file!r} (sha256 {spec.sha256[:12]}...) not found. Looked in:\n"
        + "\n".join(f"  - {w}" for w in looked)
        + "\nSet RECURSOR_DATA to a folder holding it, or connect to the network once."
    )


def _verified(path: Path, spec: DataSpec, looked: list[str]) -> Path | None:
    if not path.is_file():
        looked.append(f"{path} (absent)")
        return None
    digest = sha256_of(path)
    if digest != spec.sha256:
        looked.append(f"{path} (sha256 {digest[:12]}... differs; not used)")
        return None
    return path


def _download(spec: DataSpec) -> Path:
    target = cache_dir() / spec.file
    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(spec.url, timeout=DOWNLOAD_TIMEOUT) as response:
        payload = response.read()
    digest = hashlib.sha256(payload).hexdigest()
    if digest != spec.sha256:
        raise DataError(f"downloaded {spec.url} has sha256 {digest[:12]}..., not the task's")
    # write then rename, so that a killed download never leaves a half file in the cache
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.file}.")
    with os.fdopen(fd, "wb") as f:
        f.write(payload)
    os.replace(tmp, target)
    return target
