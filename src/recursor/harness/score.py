"""Reading a score the harness did not compute itself, without trusting what wrote it.

The safe pattern (docs/harness.md): anything that loads the candidate's files (a checkpoint is
a pickle: loading it runs code of the candidate's choosing) runs *in the sandbox*, as a score
step; that step writes plain data (JSON here, or a .npy read with `allow_pickle=False`), and
the harness computes or checks the metric from it in its own process. Never `torch.load`,
`pickle.load` or import the candidate's files in the harness: it runs outside the sandbox.
"""

from __future__ import annotations

import json
import math
import os
import stat

from recursor.harness.curve import curve_pattern
from recursor.harness.errors import HarnessError

MAX_SCORE_BYTES = 1 << 20


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_score(path: str, name: str) -> dict[str, float]:
    """The metrics a score step wrote at `path`: a JSON number (the metric `name`), or a JSON
    object whose finite numbers are metrics and which holds `name`.

    Read as JSON text only, through no link, at most MAX_SCORE_BYTES; nothing of the file is
    ever quoted in an error (the step read the scoring data, and an error is kept with the run,
    where a researcher reads it). Raises HarnessError saying what is wrong."""
    where = f"the score step's result ({os.path.basename(path)})"
    value = read_json(path, where, MAX_SCORE_BYTES)
    if _finite(value):
        return {name: float(value)}
    if not isinstance(value, dict):
        raise HarnessError(f"{where} is neither a number nor a JSON object")
    if not _finite(value.get(name)):
        raise HarnessError(f"{where} has no finite number '{name}'")
    return {k: float(v) for k, v in value.items()
            if isinstance(k, str) and len(k) <= 64 and _finite(v)}


def read_scores(path: str, count: int, max_bytes: int = 64 << 20) -> list[float]:
    """A score step's answer of one number per input: a JSON list of `count` finite numbers,
    read as `read_score` reads (no link, size-capped, never quoted in an error)."""
    where = f"the score step's result ({os.path.basename(path)})"
    value = read_json(path, where, max_bytes)
    if not isinstance(value, list):
        raise HarnessError(f"{where} is not a JSON list")
    if len(value) != count:
        raise HarnessError(f"{where} holds {len(value)} scores for {count} inputs")
    bad = next((i for i, v in enumerate(value) if not _finite(v)), None)
    if bad is not None:
        raise HarnessError(f"{where}: score {bad} is not a finite number")
    return [float(v) for v in value]


def read_bounded(path: str | os.PathLike, where: str, max_bytes: int, missing: str) -> bytes:
    """The bytes of a regular file a step in the sandbox wrote, never through a link, at most
    `max_bytes`; a HarnessError (`missing` when there is none) otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise HarnessError(missing) from None
    except OSError:
        raise HarnessError(f"{where} is not a file the harness may read (a link?)") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise HarnessError(f"{where} is not a regular file")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise HarnessError(f"{where} is larger than {max_bytes} bytes")
    return data


def read_json(path: str, where: str, max_bytes: int) -> object:
    """A JSON file a step in the sandbox wrote, read as `read_score` reads it; `where` names it
    in errors."""
    data = read_bounded(path, where, max_bytes,
                        missing=f"the score step wrote no result: {where} is missing")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise HarnessError(f"{where} is not JSON") from None


class LastMatch:
    """The metric as the program printed it, last: the value of group `name` (or of the one
    group) in the last line of its output the regex finds. For `run_program(on_line=...)`.

    This trusts the program: it prints what it likes, so a program that prints a better number
    gets it. Use it only where that is acceptable (your own code, a smoke test), never to judge
    candidates written by a proposer."""

    def __init__(self, regex: str, name: str):
        self.pattern, names = curve_pattern(regex, name)
        if name not in names:
            raise ValueError(f"the regex {regex!r} has no group named {name!r}")
        self.name = name
        self.value: float | None = None

    def __call__(self, line: str) -> None:
        match = self.pattern.search(line)
        if match is None:
            return
        text = match.group(self.name) if self.pattern.groupindex else match.group(1)
        try:
            value = float(text)
        except (TypeError, ValueError):
            return
        if math.isfinite(value):
            self.value = value
