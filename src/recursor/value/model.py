"""The value function's model: a running candidate's final metric, predicted from its partial curve.

What is predicted is the *paired* final difference D = (candidate's metric) - (parent's metric)
on one seed, from the two partial curves on that seed, at equal progress. Why this model:

- Paired, because the judge's decisions are paired: the screen rejects a candidate that is not
  better than its parent on the first seed, the confirmation tests paired differences. Same
  initialisation and data order make most of a curve's wiggles common to both runs, so the gap
  between the curves is far less noisy than either curve.
- Learned from the run's finished pairs rather than a parametric extrapolation of one curve
  (e.g. a power law a + b * t^-c): the raw curve's shape is set by the learning-rate schedule
  (an idea that decays the rate drops steeply at the end, which no power law fitted on the first
  half foresees), and the link between a training-loss gap and the final metric's gap (units,
  overfitting, the evaluation's own data) is the task's, not known in advance. For every
  progress point f, a linear regression D ~ 1 + gap(f) + [gap(f) - gap(f/2)] is fitted on the
  pairs that already finished: the curves' shape enters through the gap's trend, the task's link
  through the learned coefficients.
- Out of sample: a forecast never learns from the finished pairs of the program it forecasts
  (its own screen, or the same program in an earlier run of the task). Those would tell it the
  answer, and the calibration measured in every run must be that of a forecast; what a node's
  own finished pairs say enters the futility test directly, as data (recursor.value.futility).
- Uncertainty: the regression's Student-t predictive interval, whose width grows with the
  residual spread of the pairs seen and with how far the running pair lies from them. With too
  few finished pairs there is no forecast at all, and nothing is stopped. Whether the intervals
  hold is checked in every run (recursor.value.calibration) and the stop rule tightens when its
  audited stops prove wrong too often (recursor.value.stopper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from recursor.value.curves import Curve, features, looked_at

MIN_PAIRS = 6  # candidates with a finished pair before the first forecast
LEVEL = 0.90  # the predictive interval reported and calibrated


@dataclass(frozen=True)
class Pair:
    """A finished candidate run and its parent's run on the same seed."""

    candidate: Curve
    reference: Curve
    difference: float  # final metric, candidate minus parent
    # the candidate program it belongs to: a program's seeds agree closely, so they count once
    group: object = None


@dataclass(frozen=True)
class Forecast:
    progress: float  # the progress point the curves were read at
    mean: float  # predicted final difference, candidate minus parent
    sd: float  # scale of the Student-t predictive distribution
    dof: int
    pairs: int  # finished pairs the model learned from

    def p_below(self, x: float) -> float:
        """Probability that the final difference ends below x."""
        return float(stats.t.cdf((x - self.mean) / self.sd, self.dof))

    @property
    def interval(self) -> tuple[float, float]:
        half = float(stats.t.ppf(0.5 + LEVEL / 2, self.dof)) * self.sd
        return self.mean - half, self.mean + half


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    xtx_inv: np.ndarray
    s: float  # residual standard deviation
    dof: int
    n: int


class PairedCurveModel:
    """Forecasts the final paired difference of a running candidate (see the module's notes)."""

    def __init__(self, pairs: Sequence[Pair], *, min_pairs: int = MIN_PAIRS):
        self.pairs = tuple(pairs)
        self.min_pairs = min_pairs
        self._groups = {p.group for p in self.pairs if p.group is not None}
        self._fits: dict[tuple[float, object], _Fit | None] = {}

    def forecast(self, candidate: Curve, reference: Curve,
                 program: object = None) -> Forecast | None:
        """The final difference of a running pair; `program` (its Pair.group) leaves that
        program's finished pairs out of the fit."""
        f = looked_at(min(candidate.reached, reference.reached))
        if f is None:
            return None
        x0 = features(candidate, reference, f)
        if program not in self._groups:
            program = None  # the shared fit
        fit = self._fit(f, program)
        if x0 is None or fit is None:
            return None
        mean = float(x0 @ fit.beta)
        sd = fit.s * float(np.sqrt(1.0 + x0 @ fit.xtx_inv @ x0))
        return Forecast(f, mean, max(sd, 1e-12), fit.dof, fit.n)

    def _fit(self, f: float, left_out: object) -> _Fit | None:
        if (f, left_out) not in self._fits:
            self._fits[f, left_out] = self._fit_at(f, left_out)
        return self._fits[f, left_out]

    def _fit_at(self, f: float, left_out: object) -> _Fit | None:
        # one row per candidate program, its seeds averaged: the seeds of one program differ
        # far less than programs do, and counting them apart would make the model as sure as
        # if it had seen that many different ideas
        groups: dict[object, list[tuple[np.ndarray, float]]] = {}
        for i, pair in enumerate(self.pairs):
            if left_out is not None and pair.group == left_out:
                continue
            x = features(pair.candidate, pair.reference, f)
            if x is not None:
                key = pair.group if pair.group is not None else ("pair", i)
                groups.setdefault(key, []).append((x, pair.difference))
        rows = [np.mean([x for x, _ in g], axis=0) for g in groups.values()]
        ys = [float(np.mean([y for _, y in g])) for g in groups.values()]
        n, p = len(rows), 3
        if n < max(self.min_pairs, p + 3):
            return None
        X, y = np.asarray(rows), np.asarray(ys)
        # a tiny ridge: pairs whose gaps never move (ideas that change nothing) make the
        # columns collinear
        xtx_inv = np.linalg.inv(X.T @ X + 1e-9 * np.eye(p))
        beta = xtx_inv @ X.T @ y
        resid = y - X @ beta
        dof = n - p
        s = float(np.sqrt(resid @ resid / dof))
        if s <= 0:
            s = 1e-9 * (float(np.abs(y).max()) + 1e-9)
        return _Fit(beta, xtx_inv, s, dof, n)

