"""Group-sequential confirmation: when to look at a candidate's fresh pairs, and at what level.

A fixed confirmation runs `confirm` fresh pairs and tests once at alpha. On a noisy task two
pairs are too few for a real but modest gain (a change better on both pairs by 0.051 and 0.043
missed at p = 0.052), and simply running the test again after more pairs would spend alpha at
every look: a null candidate that may "keep asking" passes far more often than alpha.

Here a candidate is looked at after `confirm` pairs, then after every `confirm` more, up to a cap
(`confirm_max`): looks at n_1 < n_2 < ... < n_K pairs. The alpha of the whole confirmation is
spent over the looks by a Lan-DeMets spending function of the information fraction t = n_k / n_K:

- O'Brien-Fleming type: alpha(t) = 2 - 2 Phi(z_{alpha/2} / sqrt(t)); almost nothing early (a
  look at a third of the pairs passes only at p < 6e-5 for alpha 0.02), nearly alpha at the cap;
- Pocock type: alpha(t) = alpha ln(1 + (e - 1) t); about the same level at every look.

The boundaries c_k solve P(Z_1 < c_1, ..., Z_{k-1} < c_{k-1}, Z_k >= c_k) = alpha(t_k) -
alpha(t_{k-1}) for the standardized statistics of the looks, jointly normal with correlation
sqrt(n_i / n_j) (scipy's multivariate normal, solved with brentq). The judge's test is a
moderated t, so each boundary is used as the nominal one-sided level Phi(-c_k) the look's
p-value must beat (the "significance level" approach: exact for a known noise, close to it with
the run's pooled degrees of freedom; bench/sequential_confirm.py measures it).

Futility is non-binding: the boundaries are computed as if a candidate always went on to the
cap, so stopping one early for futility can only lower the chance that a null passes. A look
gives up when the conditional power under the current trend (the chance to pass at the cap if
the gain seen so far were the true one) is below FUTILITY_POWER.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import optimize, special, stats

Spending = Literal["obrien-fleming", "pocock"]
SPENDINGS: tuple[str, ...] = ("obrien-fleming", "pocock")
# below this chance of passing at the cap under the current trend, more pairs are not worth it;
# 5% keeps most modest real gains (bench/sequential_confirm.py) and halves a null's extra pairs
FUTILITY_POWER = 0.05
MAX_PAIRS = 99  # node n's j-th confirmation seed is fresh_base + 100 n + j: j must stay < 100
# the joint normal probabilities are integrated to this absolute error (scipy's default is
# 1e-5): an O'Brien-Fleming first look spends 6e-5, and its boundaries must not drift with it
_ABSEPS = 1e-6


def look_sizes(first: int, cap: int) -> tuple[int, ...]:
    """Fresh pairs at each look: `first`, then `first` more each look, the last at the cap."""
    if first < 1 or cap < first:
        raise ValueError(f"the cap of fresh pairs ({cap}) must be at least the first look's "
                         f"({first})")
    if cap > MAX_PAIRS:
        raise ValueError(f"at most {MAX_PAIRS} fresh pairs per candidate (got {cap}): node n's "
                         "confirmation seeds are fresh_base + 100 n + j, with j < 100")
    sizes = list(range(first, cap + 1, first))
    if sizes[-1] != cap:
        sizes.append(cap)
    return tuple(sizes)


def spent(fraction: float, alpha: float, spending: Spending) -> float:
    """The one-sided alpha spent by information fraction `fraction` (0 < fraction <= 1)."""
    if spending == "obrien-fleming":
        return float(2.0 - 2.0 * stats.norm.cdf(stats.norm.isf(alpha / 2.0) / math.sqrt(fraction)))
    if spending == "pocock":
        return float(alpha * math.log(1.0 + (math.e - 1.0) * fraction))
    raise ValueError(f"unknown spending function {spending!r}; choose from {', '.join(SPENDINGS)}")


@lru_cache(maxsize=64)
def boundaries(alpha: float, pairs: tuple[int, ...], spending: Spending) -> tuple[float, ...]:
    """The z boundary of each look (a look passes when its z is at least its boundary)."""
    if len(pairs) == 1:
        return (float(stats.norm.isf(alpha)),)
    n = np.array(pairs, dtype=float)
    fractions = n / n[-1]
    corr = np.sqrt(np.minimum.outer(n, n) / np.maximum.outer(n, n))
    out = [float(stats.norm.isf(spent(fractions[0], alpha, spending)))]
    for k in range(1, len(pairs)):
        target = spent(fractions[k], alpha, spending) - spent(fractions[k - 1], alpha, spending)
        # seeded: the same design gives the same boundaries in every run and on resume
        joint = stats.multivariate_normal(cov=corr[:k + 1, :k + 1], seed=0, abseps=_ABSEPS,
                                          releps=0.0)
        upper = np.array([*out, np.inf])

        def crossing(c: float, upper: np.ndarray = upper, joint=joint, k: int = k,
                     target: float = target) -> float:
            # P(no earlier look passed, this one does) - what this look may spend
            lower = np.array([-np.inf] * k + [c])
            return float(joint.cdf(upper, lower_limit=lower)) - target

        out.append(float(optimize.brentq(crossing, -2.0, 10.0, xtol=1e-6)))
    return tuple(out)


def conditional_power(z: float, fraction: float, final_boundary: float) -> float:
    """P(the statistic at the cap reaches `final_boundary`) given `z` at `fraction` of the pairs,
    if the drift seen so far is the true one (Brownian motion of the score: B(t) = z sqrt(t))."""
    if fraction >= 1.0:
        return float(z >= final_boundary)
    drift = z / math.sqrt(fraction)  # the expected z at the cap under the current trend
    # special.ndtr is stats.norm.cdf without its argument checks, which cost 50x the sum here
    return float(special.ndtr((drift - final_boundary) / math.sqrt(1.0 - fraction)))


@dataclass(frozen=True)
class Design:
    """A confirmation's looks and their levels; one look at alpha is the fixed design."""

    alpha: float  # one-sided, spent over all the looks
    pairs: tuple[int, ...]  # fresh pairs at each look
    spending: Spending
    boundaries: tuple[float, ...]  # z
    levels: tuple[float, ...]  # the nominal one-sided p-value each look must beat

    @classmethod
    def of(cls, alpha: float, first: int, cap: int | None,
           spending: Spending = "obrien-fleming") -> Design:
        if spending not in SPENDINGS:
            raise ValueError(f"unknown spending function {spending!r}; choose from "
                             f"{', '.join(SPENDINGS)}")
        pairs = look_sizes(first, first if cap is None else cap)
        if len(pairs) == 1:
            # exactly the fixed test of earlier recursors: p < alpha, nothing recomputed
            return cls(alpha, pairs, spending, (float(stats.norm.isf(alpha)),), (alpha,))
        bounds = boundaries(alpha, pairs, spending)
        return cls(alpha, pairs, spending, bounds,
                   tuple(float(stats.norm.sf(c)) for c in bounds))

    @property
    def looks(self) -> int:
        return len(self.pairs)

    @property
    def cap(self) -> int:
        return self.pairs[-1]

    @property
    def sequential(self) -> bool:
        return len(self.pairs) > 1

    def look_at(self, pairs: int) -> int:
        """The index of the look that `pairs` ended pairs belong to (the first not below it)."""
        return next((k for k, n in enumerate(self.pairs) if n >= pairs), len(self.pairs) - 1)

    def conditional_power(self, k: int, p_value: float) -> float:
        """The chance to pass at the cap from look `k`'s p-value, under the current trend."""
        z = float(-special.ndtri(p_value))  # stats.norm.isf(p_value)
        return conditional_power(z, self.pairs[k] / self.cap, self.boundaries[-1])
