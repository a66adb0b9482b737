"""The statistics of the judge: paired differences, a pooled noise estimate, a one-sided test.

A candidate and its parent run on the same seeds (same initialisation, same data order), so the
seed's own effect cancels in the paired difference. With two or three pairs a candidate's own
spread is a poor estimate of the noise (a t-test on 2 pairs has 1 degree of freedom and almost
no power), so the judge uses a moderated t: the variance is pooled over everything the run has
seen, the candidate's own pairs included:

- a prior from the baseline's seeds: the spread of a *difference* of two unrelated runs is at
  most sqrt(2) times the seed-to-seed spread, so 2 * s_baseline^2 with k - 1 degrees of freedom
  is a conservative start;
- the residual spread of every candidate's paired differences (each adds n - 1 degrees of
  freedom), so that the estimate sharpens as the run goes and an unstable candidate widens it.

The test's level holds when candidates share one noise level, which the tests in tests/judge
check by simulation on the run-wide false-accept rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

TINY = 1e-12  # a spread of exactly zero (a deterministic metric) still needs a finite t


@dataclass(frozen=True)
class Pooled:
    """A pooled variance of paired differences and its degrees of freedom."""

    variance: float
    df: int

    @property
    def sigma(self) -> float:
        return math.sqrt(self.variance)


def sample_variance(xs: Sequence[float]) -> float:
    m = sum(xs) / len(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def pool(baseline: Sequence[float], groups: Sequence[Sequence[float]]) -> Pooled:
    """Pooled variance of paired differences: the baseline prior plus every group's residuals."""
    ss, df = 0.0, 0
    if len(baseline) >= 2:
        ss += 2.0 * sample_variance(baseline) * (len(baseline) - 1)
        df += len(baseline) - 1
    for g in groups:
        if len(g) >= 2:
            ss += sample_variance(g) * (len(g) - 1)
            df += len(g) - 1
    if df == 0:
        raise ValueError("no degrees of freedom: the baseline needs at least two seeds")
    return Pooled(ss / df, df)


def regroup(pooled: Pooled, old: Sequence[float], new: Sequence[float]) -> Pooled:
    """`pooled` with one group's residuals `old` replaced by `new`: the noise an earlier look of
    a sequential confirmation was tested with, when the node had fewer pairs in the pool."""
    ss, df = pooled.variance * pooled.df, pooled.df
    for group, sign in ((old, -1), (new, 1)):
        if len(group) >= 2:
            ss += sign * sample_variance(group) * (len(group) - 1)
            df += sign * (len(group) - 1)
    if df <= 0:
        raise ValueError("no degrees of freedom left once the group is replaced")
    return Pooled(max(ss, 0.0) / df, df)


@dataclass(frozen=True)
class PairedTest:
    """One-sided test that the mean improvement is above zero."""

    n: int
    mean: float  # mean improvement (positive = better), in metric units
    sigma: float  # the spread used for the test
    df: int
    t: float
    p_value: float
    ci95: tuple[float, float]  # two-sided 95% interval of the mean improvement
    upper95: float  # one-sided 95% upper bound: below zero means "worse, beyond noise"


def paired_test(improvements: Sequence[float], pooled: Pooled) -> PairedTest:
    n = len(improvements)
    if n == 0:
        raise ValueError("no paired improvements to test")
    mean = sum(improvements) / n
    variance, df = pooled.variance, pooled.df
    sigma = max(math.sqrt(variance), TINY * max(1.0, abs(mean)))
    se = sigma / math.sqrt(n)
    t = mean / se
    p = float(stats.t.sf(t, df))
    half = float(stats.t.ppf(0.975, df)) * se
    upper = mean + float(stats.t.ppf(0.95, df)) * se
    return PairedTest(n, mean, sigma, df, t, p, (mean - half, mean + half), upper)


def mean_ci95(xs: Sequence[float]) -> tuple[float, float] | None:
    """Two-sided 95% t-interval of the mean of `xs` with their own spread (None below 2 values)."""
    if len(xs) < 2:
        return None
    m = sum(xs) / len(xs)
    half = float(stats.t.ppf(0.975, len(xs) - 1)) * math.sqrt(sample_variance(xs) / len(xs))
    return (m - half, m + half)
