"""Futility in the confirmation stage: will this node's paired test pass at all?

A candidate that passed its screen runs on `confirm` fresh seeds beside its parent, and the judge
accepts it only if the mean paired improvement over those seeds clears a bar (the one-sided
test at level alpha with the run's pooled noise, and the task's min_effect: `Judge.
confirmation_bar`). Most of a near-null candidate's cost is these runs, and a per-seed forecast
("will it end better than the parent on this seed?") cannot stop it: on each seed it is a coin
toss. What can be forecast is whether the *mean* clears the bar.

The forecast of the mean M over the n fresh seeds combines, in improvement units (positive =
better):

- seeds whose pair has finished: their exact improvement;
- seeds whose runs are going: the value function's forecast (mean mu_j, predictive sd s_j);
- seeds not started: the candidate's true effect delta plus the seed's noise (sd sigma, the
  run's pooled paired sd). delta is estimated from everything seen: the screen's improvement and
  the fresh seeds above, each weighted by its precision (1 / sigma^2, or 1 / (sigma^2 + s_j^2)
  for a forecast), and the prior below. The screen's improvement is a selected one (it passed),
  which biases delta upwards: the rule errs towards running on.

The prior on delta is what the run has seen of its candidates' true effects: centred on no
effect (most changes to a tuned program do little) with the spread tau of the fresh
improvements its nodes have shown (`effect_spread`: their mean square less the part their
seeds' noise explains), once MIN_PRIOR_NODES nodes have ended a fresh pair; flat before. With a
flat prior a screen gain is taken at its word, and a near-null that passed its screen by luck
(half of them do) looks as promising as a real gain of the same size: at the screen, where
most of a near-null's cost is still ahead, nothing could be stopped. A run whose candidates are
mostly near-nulls has a small tau and shrinks a small screen gain towards none; a run with
large real effects has a large tau and takes screens nearly at their word. The spread counts
every node that ended a fresh pair, stopped ones too, but not those stopped at their screen
(near-nulls, mostly): tau errs large, towards running on.

While the screen itself runs, its improvement x is not known yet, and the node is accepted only
if x > 0 (the screen passes) and then its test passes. The look then gives the probability of
both (`screen_forecast`): P(pass | x) averaged over the value function's forecast of x, x <= 0
counting as no pass. That is the chance that stopping the node gives up one the judge would
have accepted, the false stop the level bounds. A vague forecast spreads x over large gains,
whose tests pass, and keeps the chance high: the look needs no separate sharpness guard. A
near-null's screen, forecast level with a seed's noise, has half a chance of passing and then a
small chance of passing its test (its screen gain is shrunk towards none): it is given up
before its screen ends, and its confirmation pairs, most of its cost, never run.

The forecasts' errors are correlated (one model made them) and so is the error of delta (it is
estimated from the same forecasts); rather than model the correlations, all these standard
deviations are added, the largest spread any correlation could give. P(pass) = P(M > bar)
under a Student-t with that scale and the forecasts' smallest degrees of freedom. The stop rule
(recursor.value.stopper) stops the node when P(pass) is below its risk level and audits a share
of such stops; the node's verdict says afterwards whether its test would have passed (a wrong
futility stop).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from recursor.value.model import LEVEL, Forecast

MIN_PRIOR_NODES = 3  # nodes with a fresh pair ended before the run's spread of effects is used
QUADRATURE = 64  # points over a running screen's outcome (screen_forecast)
MIN_PRIOR_SD = 1.0  # in sigmas: tau is never narrower than one seed's noise (a few level nodes
# cannot make it 0; a real gain among near-nulls keeps a fair chance at its screen)


@dataclass(frozen=True)
class ConfirmForecast:
    """The forecast of a node's mean fresh improvement, and of its test passing."""

    progress: float  # the least progress among the seeds being forecast
    mean: float  # expected mean improvement over the fresh seeds (positive = better)
    sd: float
    dof: int
    bar: float  # the mean improvement the test needs
    p_pass: float
    pairs: int  # finished pairs the per-seed forecasts learned from

    @property
    def interval(self) -> tuple[float, float]:
        half = float(stats.t.ppf(0.5 + LEVEL / 2, self.dof)) * self.sd
        return self.mean - half, self.mean + half


def confirm_forecast(screen: float, finished: Sequence[float], forecasts: Sequence[Forecast],
                     unseen: int, sigma: float, bar: float, minimize: bool, df: int = 30,
                     prior_sd: float | None = None) -> ConfirmForecast | None:
    """Forecast the confirmation test of a node whose screen passed (see the module's notes).

    `screen` is the screen's improvement over the parent. `finished` are the exact
    improvements of fresh pairs that have ended, `forecasts` the value function's forecasts of
    running pairs (as differences, candidate minus parent: the sign is turned by `minimize`),
    `unseen` the number of fresh seeds not started, `df` the degrees of freedom of `sigma` (the
    run's pooled noise), used when no forecast is in. With nothing finished or forecast, the
    forecast rests on the screen alone (and `prior_sd`, the run's spread of true effects about
    none: `effect_spread`; None: a flat prior), the look made once a screen passes. A look
    between pairs (finished ones, none running) is what stops a near-null before its next pair
    starts. None without a noise estimate, or with no fresh seed to forecast."""
    if sigma <= 0 or not (finished or forecasts or unseen):
        return None
    sign = -1.0 if minimize else 1.0
    mus = [sign * f.mean for f in forecasts]
    sds = [f.sd for f in forecasts]
    var = sigma * sigma
    # delta from the screen, the finished pairs and the forecasts, by precision
    obs = [(screen, var)] + [(g, var) for g in finished]
    obs += [(m, var + s * s) for m, s in zip(mus, sds, strict=True)]
    if prior_sd is not None:
        obs.append((0.0, prior_sd * prior_sd))  # the run's spread of true effects, about none
    weight = sum(1 / v for _, v in obs)
    delta = sum(x / v for x, v in obs) / weight
    delta_var = 1 / weight
    n = len(finished) + len(forecasts) + unseen
    mean = (sum(finished) + sum(mus) + unseen * delta) / n
    forecast_sd = sum(sds)
    unseen_sd = math.sqrt(unseen * var + unseen * unseen * delta_var)
    sd = (forecast_sd + unseen_sd) / n
    # with no forecast in (a look between pairs), what is known is known at its end
    dof = min((f.dof for f in forecasts), default=df)
    p_pass = float(stats.t.sf((bar - mean) / max(sd, 1e-12), dof))
    return ConfirmForecast(min((f.progress for f in forecasts), default=1.0), mean, sd, dof, bar,
                           p_pass, min((f.pairs for f in forecasts), default=0))


def screen_forecast(screen: Forecast, unseen: int, sigma: float, bar: float, minimize: bool,
                    df: int = 30, prior_sd: float | None = None) -> ConfirmForecast | None:
    """While a node's screen runs: the chance that its screen passes and then its test does,
    over the value function's forecast of the screen (`screen`, a difference, candidate minus
    parent), before any of its `unseen` fresh seeds ran. `p_pass` is that joint chance; `mean`
    and `sd` are those of the mean fresh improvement, given that the screen passes. The average
    over the screen's outcome x is a midpoint rule on x's quantiles above 0 (QUADRATURE
    points), each point the test's forecast were x the finished screen's gain
    (`confirm_forecast`). None without a noise estimate or a fresh seed."""
    if sigma <= 0 or unseen <= 0:
        return None
    sign = -1.0 if minimize else 1.0
    m, s = sign * screen.mean, screen.sd
    # the upper tail's own quantiles: a screen all but sure to fail has P(x > 0) near 0, where
    # quantiles taken from below would all round to the same infinite one
    passes = max(float(stats.t.sf(-m / s, screen.dof)), 1e-300)  # P(x > 0)
    tail = passes * (np.arange(QUADRATURE) + 0.5) / QUADRATURE
    given = [confirm_forecast(float(x), [], [], unseen, sigma, bar, minimize, df, prior_sd)
             for x in m + s * stats.t.isf(tail, screen.dof)]
    means = np.array([g.mean for g in given])
    second = float(np.mean([g.sd ** 2 for g in given]) + np.mean(means ** 2))
    mean = float(means.mean())
    p_pass = passes * float(np.mean([g.p_pass for g in given]))
    return ConfirmForecast(screen.progress, mean, math.sqrt(max(second - mean * mean, 0.0)),
                           min(screen.dof, df), bar, p_pass, screen.pairs)


def effect_spread(fresh: Sequence[Sequence[float]], sigma: float) -> float | None:
    """tau, the spread of true effects about none, from nodes' fresh improvements (one list per
    node, in improvement units): E[m^2] = delta^2 + sigma^2 / j for the mean m of j pairs.
    None (flat prior) with fewer than MIN_PRIOR_NODES nodes."""
    fresh = [f for f in fresh if f]
    if len(fresh) < MIN_PRIOR_NODES or sigma <= 0:
        return None
    excess = sum((sum(f) / len(f)) ** 2 - sigma * sigma / len(f) for f in fresh) / len(fresh)
    return max(math.sqrt(max(excess, 0.0)), MIN_PRIOR_SD * sigma)
