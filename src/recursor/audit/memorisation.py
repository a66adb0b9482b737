"""The task's data, indexed so that a literal can be checked for text copied from it.

The index holds a 64-bit polynomial hash of every 16-byte window that starts at a multiple of
16 in each data file, sorted, beside its offset. A text shares a run of at least 31 bytes with
the data only if one of its 16-byte windows is such a window, so looking up every window of a
literal (vectorised: one `searchsorted` for all of them) finds every run of 31 bytes or more;
each hit is then checked byte by byte and grown both ways to the whole run. Case and whitespace
are folded on both sides first (newlines turned into spaces still match), and windows of fewer
than six distinct bytes are not indexed (runs of spaces or `= = =` say nothing).

Building it reads the files once (3.5 MB for tiny-lm: a quarter of a second) and a run keeps
it (`Corpus.of`, `task_corpus`); looking up a 200 KB literal takes tens of milliseconds (a
presence filter of 2**24 bits skips most windows before the sorted search).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

K = 16  # bytes in a window
STEP = 16  # offset between two indexed windows of the data: runs of K + STEP - 1 are all found
MIN_DISTINCT = 6  # bytes in a window worth indexing
CANDIDATES = 4  # places in the data looked at per matching window (common phrases repeat)
CHUNK = 1 << 18  # windows hashed at once
_SHIFT = np.uint64(40)  # the top 24 bits of a hash index a presence filter (16 MB)
_PRIME = np.uint64(0x100000001B3)
_POWERS = np.array([pow(int(_PRIME), K - 1 - j, 1 << 64) for j in range(K)], dtype=np.uint64)
NORMAL = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ\t\n\r\x0b\x0c",
                         b"abcdefghijklmnopqrstuvwxyz     ")


@dataclass(frozen=True)
class Run:
    """A stretch of a literal found in a data file."""

    file: str  # the data file's name in the task
    offset: int  # where the run starts in it (bytes)
    length: int
    at: int  # where it starts in the literal


class Corpus:
    """The data files of a task (name -> path), indexed on first use."""

    _cache: dict[tuple, Corpus] = {}
    _lock = threading.Lock()

    def __init__(self, files: Mapping[str, str | Path]):
        self.files = {name: Path(path) for name, path in files.items()}
        self.error: str | None = None
        self._index: tuple[Any, ...] | None = None
        self._build = threading.Lock()

    @classmethod
    def of(cls, files: Mapping[str, str | Path]) -> Corpus:
        """The one Corpus of these files in this process: a run builds its index once."""
        key = tuple(sorted((name, str(path)) for name, path in files.items()))
        with cls._lock:
            if key not in cls._cache:
                cls._cache[key] = cls(files)
            return cls._cache[key]

    def index(self) -> tuple[Any, ...] | None:
        """(normalised text, file bounds, sorted window hashes, their offsets, a presence
        filter); None when a file cannot be read (then `error` says why)."""
        with self._build:
            if self._index is None and self.error is None:
                try:
                    self._index = _build(self.files)
                except OSError as err:
                    self.error = f"the task's data could not be read: {err}"
            return self._index

    def find(self, data: bytes, min_run: int = K + STEP - 1) -> list[Run]:
        """Every run of at least `min_run` bytes that `data` shares with a data file."""
        index = self.index()
        if index is None or len(data) < K:
            return []
        text, bounds, keys, offsets, present = index
        query = data.translate(NORMAL)
        at, where = [], []
        for start in range(0, len(query) - K + 1, CHUNK):
            block = np.frombuffer(query, np.uint8, count=min(CHUNK, len(query) - K + 1 - start)
                                  + K - 1, offset=start)
            hashes = _hashes(block)
            maybe = np.flatnonzero(present[(hashes >> _SHIFT).astype(np.intp)])
            if not len(maybe):
                continue
            wanted = hashes[maybe]
            found = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
            for extra in range(CANDIDATES):  # the same window may be in several places
                j = np.minimum(found + extra, len(keys) - 1)
                hit = keys[j] == wanted
                at.append(start + maybe[hit])
                where.append(offsets[j[hit]])
        if not at:
            return []
        at, where = np.concatenate(at), np.concatenate(where)
        runs: list[Run] = []
        diagonal = where - at
        order = np.lexsort((at, diagonal))
        at, diagonal = at[order], diagonal[order]
        starts = np.flatnonzero(np.r_[True, diagonal[1:] != diagonal[:-1]])
        ends = np.r_[starts[1:], len(at)]
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            i = lo
            while i < hi:  # one run per stretch of a diagonal; skip the hits inside it
                p = int(at[i])
                run = self._grow(query, text, bounds, p, p + int(diagonal[i]))
                if run is None:
                    i += 1
                    continue
                if run.length >= min_run:
                    runs.append(run)
                i = lo + int(np.searchsorted(at[lo:hi], run.at + run.length))
                i = max(i, lo + int(np.searchsorted(at[lo:hi], p, side="right")))
        return runs

    @staticmethod
    def _grow(query: bytes, text: bytes, bounds, p: int, c: int) -> Run | None:
        if query[p:p + K] != text[c:c + K]:
            return None
        name, lo, hi = next(b for b in bounds if b[1] <= c < b[2])
        p0, c0 = p, c
        while p0 > 0 and c0 > lo and query[p0 - 1] == text[c0 - 1]:
            p0, c0 = p0 - 1, c0 - 1
        p1, c1 = p + K, c + K
        while c1 + 256 <= hi and query[p1:p1 + 256] == text[c1:c1 + 256]:
            p1, c1 = p1 + 256, c1 + 256
        while p1 < len(query) and c1 < hi and query[p1] == text[c1]:
            p1, c1 = p1 + 1, c1 + 1
        return Run(name, c0 - lo, p1 - p0, p0)


def _hashes(block: np.ndarray) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(block, K)
    out = np.zeros(len(windows), dtype=np.uint64)
    for j in range(K):  # a polynomial hash, modulo 2**64 (numpy wraps unsigned overflow)
        out = out * _PRIME + windows[:, j].astype(np.uint64)
    return out


def _build(files: Mapping[str, Path]) -> tuple[Any, ...]:
    parts, bounds, at = [], [], 0
    for name, path in sorted(files.items()):
        data = path.read_bytes().translate(NORMAL)
        parts += [data, b"\0" * K]  # a gap no window spans
        bounds.append((name, at, at + len(data)))
        at += len(data) + K
    text = b"".join(parts)
    present = np.zeros(1 << 24, dtype=bool)  # most windows of a literal are nowhere in the data
    if len(text) < K:
        return text, bounds, np.zeros(0, np.uint64), np.zeros(0, np.int64), present
    array = np.frombuffer(text, np.uint8)
    starts = np.arange(0, len(array) - K + 1, STEP)
    windows = np.lib.stride_tricks.sliding_window_view(array, K)[starts]
    ordered = np.sort(windows, axis=1)
    distinct = 1 + (np.diff(ordered, axis=1) != 0).sum(axis=1)
    keep = (distinct >= MIN_DISTINCT) & (ordered[:, 0] != 0)
    hashes = (windows[keep].astype(np.uint64) * _POWERS).sum(axis=1, dtype=np.uint64)
    order = np.argsort(hashes, kind="stable")
    present[(hashes >> _SHIFT).astype(np.intp)] = True
    return text, bounds, hashes[order], starts[keep][order], present


def task_corpus(task: Any, paths: Mapping[str, str | Path] | None = None) -> Corpus | None:
    """The Corpus of a task's data files: from `paths` (name -> path) when the caller has them,
    else found as the run finds them; None when the task has no data or it cannot be found."""
    specs = tuple((d.name, d.file, d.sha256) for d in getattr(task.spec, "data", ()))
    if not specs:
        return None
    with Corpus._lock:
        known = _BY_TASK.get(specs, False)
    if paths is None and known is not False:
        return known
    if paths is None:
        try:
            from recursor.task.data import resolve

            paths = {d.name: resolve(d) for d in task.spec.data}
        except Exception:  # no data, no memorisation check; the runtime checks remain
            paths = None
    corpus = Corpus.of(paths) if paths else None
    with Corpus._lock:
        _BY_TASK[specs] = corpus
    return corpus


_BY_TASK: dict[tuple, Corpus | None] = {}
