"""Which windows of held-back text the program predicts, and in which calls.

A `Plan` holds every row the program will be given: the scored windows, the fresh windows (the
same held-back text, not scored: the auditor's second look), causality probes and repeats, and
how they are split into separate predict calls. Everything about the layout that the program
could exploit comes from `secret`, bytes the harness draws from the operating system at run
time and records only in its result: which windows are probed or repeated, the cuts, the
splices, the call each row goes to, the order within a call and the calls' sizes. The seed the
program is given decides nothing here.

- A probe copies a scored or fresh window up to a cut drawn uniformly from every position, then
  continues with real held-back text from a random place (its first byte differs from the
  original's at the cut). Same length, real bytes: nothing but a language model's judgement can
  tell a probe from a window, and even that does not help a program that looks ahead: the
  window a probe was made from is a scored window like any other, in another call.
- A repeat is a second copy of a scored or fresh window, in another call.
- Rows of one family (a window, its probe, its repeat) never share a call, so no call holds two
  rows with a common head.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPLICE_TRIES = 16  # draws for a splice whose first byte differs from the original's at the cut


@dataclass
class Plan:
    """The rows the program predicts, what each one is, and the calls they are split into."""

    rows: np.ndarray  # (n, width) uint8
    n_scored: int  # rows [0, n_scored) are the scored windows, in the text's order
    n_fresh: int  # then the fresh windows
    probes: list[tuple[int, int, int]] = field(default_factory=list)  # (row, original row, cut)
    repeats: list[tuple[int, int]] = field(default_factory=list)  # (row, original row)
    calls: list[np.ndarray] = field(default_factory=list)  # row indices of each call, in order

    @property
    def width(self) -> int:
        return self.rows.shape[1]

    def describe(self) -> dict:
        return {"scored": self.n_scored, "fresh": self.n_fresh, "probes": len(self.probes),
                "repeats": len(self.repeats), "calls": [len(c) for c in self.calls]}


def windows_of(text: np.ndarray, start: int, count: int, width: int) -> np.ndarray:
    """`count` consecutive windows of `width` bytes from byte `start` on (fewer if text ends)."""
    count = max(0, min(count, (len(text) - start) // width))
    return text[start:start + count * width].reshape(count, width)


def plan(text: np.ndarray, width: int, n_scored: int, n_fresh: int, n_probes: int,
         n_repeats: int, n_calls: int, secret: bytes) -> Plan:
    """The plan for held-back `text`: scored windows from its start, fresh windows after them,
    then probes and repeats of those, split into `n_calls` calls, all drawn from `secret`."""
    if n_calls < 3:
        raise ValueError("predict_calls must be at least 3: a window, its probe and its repeat "
                         "each need a call of their own")
    scored = windows_of(text, 0, n_scored, width)
    fresh = windows_of(text, len(scored) * width, n_fresh, width)
    base = np.concatenate([scored, fresh])
    if len(base) == 0:
        raise ValueError(f"the held-back text ({len(text)} bytes) holds no window of {width}")
    rng = np.random.default_rng(np.frombuffer(secret, dtype=np.uint32))
    rows, families = [base], list(range(len(base)))
    probes, repeats = [], []
    # a window may have several probes (each with a cut of its own) as long as its family (it,
    # its probes, its repeat) fits in distinct calls
    n_probes = min(n_probes, len(base) * (n_calls - 2))
    originals = np.concatenate([rng.permutation(len(base))
                                for _ in range(-(-n_probes // len(base)))])[:n_probes]
    for original in originals:
        row, cut = _probe(base[original], text, rng)
        probes.append((len(families), int(original), cut))
        rows.append(row[None])
        families.append(int(original))
    for original in rng.choice(len(base), size=min(n_repeats, len(base)), replace=False):
        repeats.append((len(families), int(original)))
        rows.append(base[original][None])
        families.append(int(original))
    out = Plan(np.concatenate(rows), len(scored), len(fresh), probes, repeats)
    out.calls = _split(np.asarray(families), n_calls, rng)
    return out


def _probe(window: np.ndarray, text: np.ndarray, rng: np.random.Generator
           ) -> tuple[np.ndarray, int]:
    """`window` up to a uniform cut, then real text from a random place of `text`."""
    width = len(window)
    cut = int(rng.integers(1, width))  # positions 0..cut-1 are compared: at least one
    tail = width - cut
    for _ in range(SPLICE_TRIES):
        start = int(rng.integers(0, len(text) - tail + 1))
        splice = text[start:start + tail]
        if splice[0] != window[cut]:
            break
    probe = window.copy()
    probe[cut:] = splice
    if probe[cut] == window[cut]:  # text of one repeated byte: change the byte at the cut alone
        probe[cut] = (int(window[cut]) + 1 + int(rng.integers(0, 255))) % 256
    return probe, cut


def _split(families: np.ndarray, n_calls: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Rows into `n_calls` calls of unequal, secret sizes; a family's rows in distinct calls."""
    weights = rng.dirichlet(np.full(n_calls, 2.0))
    call_of = np.empty(len(families), dtype=np.int64)
    members: dict[int, list[int]] = {}
    for row, family in enumerate(families):
        members.setdefault(int(family), []).append(row)
    for rows in members.values():
        if len(rows) == 1:
            call_of[rows[0]] = rng.choice(n_calls, p=weights)
        else:
            call_of[rows] = rng.choice(n_calls, size=len(rows), replace=False, p=weights)
    calls = [rng.permutation(np.flatnonzero(call_of == c)) for c in range(n_calls)]
    return [c for c in calls if len(c)]
