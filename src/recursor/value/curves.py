"""Partial curves, read at equal progress, and the paired gap the value function learns from.

A harness streams curve points; those with `progress` (0 to 1, the share of the experiment done)
and the task's curve quantity (`metric.curve`, e.g. train_loss) are what the value function
reads. Two runs are compared on the same seed (same initialisation, same data order), at equal
progress, through a window of the last `WINDOW` of progress: minibatch noise averages out and
what the seed shares cancels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

WINDOW = 0.1  # share of the run averaged into one reading of a curve
STEP = 0.05  # the value function looks at progress 0.1, 0.15, ..., 1.0
GRID = tuple(round(STEP * i, 10) for i in range(2, int(round(1 / STEP)) + 1))


@dataclass(frozen=True)
class Curve:
    """A run's curve quantity against its progress, in the order the harness wrote it."""

    progress: np.ndarray
    values: np.ndarray
    step: int | None = None  # the program's step at the last point, when it reports one

    @classmethod
    def from_points(cls, points: Iterable[Mapping[str, Any]], key: str) -> Curve:
        prog, vals, step = [], [], None
        for p in points:
            x, y = p.get("progress"), p.get(key)
            if _number(x) and _number(y):
                prog.append(float(x))
                vals.append(float(y))
                if _number(p.get("step")):
                    step = int(p["step"])
        return cls(np.asarray(prog), np.asarray(vals), step)

    @property
    def reached(self) -> float:
        return float(self.progress[-1]) if len(self.progress) else 0.0

    def at(self, f: float) -> float | None:
        """Mean of the points in (f - WINDOW, f], or the line between the points around f when
        none falls there (a program that takes few, large steps); None past the curve's end."""
        if not len(self.progress) or f > self.reached + 1e-9 or f < self.progress[0] - 1e-9:
            return None
        mask = (self.progress <= f + 1e-9) & (self.progress > f - WINDOW + 1e-9)
        if mask.any():
            return float(self.values[mask].mean())
        return float(np.interp(f, self.progress, self.values))


def gap(candidate: Curve, reference: Curve, f: float) -> float | None:
    a, b = candidate.at(f), reference.at(f)
    return None if a is None or b is None else a - b


def features(candidate: Curve, reference: Curve, f: float) -> np.ndarray | None:
    """[1, gap now, how much the gap moved since half-way to now] at progress f.

    The second feature is the curves' own shape: a gap that is closing (an idea that learns
    slower early but faster late, a schedule that pays off in its decay) is told from one
    that holds or widens.
    """
    now = gap(candidate, reference, f)
    half = gap(candidate, reference, _on_grid(f / 2))
    if now is None or half is None:
        return None
    return np.array([1.0, now, now - half])


SCHEDULE_FLOOR = 0.2  # the parent's rate is compared where it is at least this share of its peak
SCHEDULE_DEPARTS = 0.25  # ... and departs when off by more than this share of the common factor


def schedule_departs(candidate: Curve, reference: Curve, upto: float) -> bool:
    """Whether the candidate's learning rate (a Curve of it), up to progress `upto`, stopped
    being its parent's times one constant factor.

    A candidate that only scales the rate keeps its parent's schedule, and its gap tells of its
    end as the finished pairs did; one with another schedule (a warmup, a decay) does not: a
    decay pays off in the last part of the run, where no partial gap has looked. The rates are
    read where the sparser run logged them (the other interpolated), and only where the
    parent's is at least SCHEDULE_FLOOR of its peak, where a ratio is well defined. Across the
    value-function bench's 443 finished pairs the schedule ideas departed by 0.92-1.0 and
    batch-size changes (the same schedule over fewer or more steps) by at most 0.1.
    """
    a, b = (c.progress <= upto + 1e-9 for c in (candidate, reference))
    pa, va = candidate.progress[a], candidate.values[a]
    pb, vb = reference.progress[b], reference.values[b]
    if len(pa) < 2 or len(pb) < 2:
        return False
    if len(pa) <= len(pb):
        m = (pa >= pb[0]) & (pa <= pb[-1])
        mine, theirs = va[m], np.interp(pa[m], pb, vb)
    else:
        m = (pb >= pa[0]) & (pb <= pa[-1])
        mine, theirs = np.interp(pb[m], pa, va), vb[m]
    keep = (theirs > 0) & (theirs >= SCHEDULE_FLOOR * theirs.max(initial=0.0))
    if not keep.any():
        return False
    ratio = mine[keep] / theirs[keep]
    if not ratio.any():
        return False  # a rate of zero throughout: its parent's schedule, scaled by nothing
    factor = float(np.median(ratio))
    if factor <= 0:
        return True
    return bool(np.max(np.abs(ratio / factor - 1)) > SCHEDULE_DEPARTS)


def looked_at(progress: float) -> float | None:
    """The last grid point a curve that has reached `progress` can be read at."""
    seen = [f for f in GRID if f <= progress + 1e-9]
    return seen[-1] if seen else None


def readings(points: Sequence[Mapping[str, Any]], key: str, reference_reached: float,
             after: float = 0.0) -> list[Curve]:
    """The curve as it stood each time it reached a grid point past `after` (as far as its
    reference has reached too): per new grid point, the longest stretch of the points read at
    it, in order. A loop that looks at a run now and then sees what it would have seen had it
    looked at every point: a run that logs in strides of a third of its length, or a look that
    comes late, still gets one look per grid point it passed, not one for all of them."""
    kept = [i for i, p in enumerate(points) if _number(p.get("progress")) and _number(p.get(key))]
    marks = [looked_at(min(float(points[i]["progress"]), reference_reached)) for i in kept]
    out = []
    for j, (i, mark) in enumerate(zip(kept, marks, strict=True)):
        if mark is None or mark <= after + 1e-9 or (j + 1 < len(marks) and marks[j + 1] == mark):
            continue  # not past `after`, or a later point is read at the same grid point
        out.append(Curve.from_points(points[:i + 1], key))
    return out


def _on_grid(f: float) -> float:
    return max(STEP, round(f / STEP) * STEP)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
