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

While the screen itself runs, its improvement is not known yet: the value function's forecast
of it stands in, its variance added to the screen's (the loop looks only once that forecast is
as sharp as one seed's noise, so that the data, not the prior, decides).

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

from scipy import stats

from recursor.value.model import LEVEL, Forecast

MIN_PRIOR_NODES = 3  # nodes with a fresh pair ended before the run's spread of effects is used
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


def confirm_forecast(screen: float | Forecast, finished: Sequence[float],
                     forecasts: Sequence[Forecast], unseen: int, sigma: float, bar: float,
                     minimize: bool, df: int = 30,
                     prior_sd: float | None = None) -> ConfirmForecast | None:
    """Forecast the confirmation test of a node (see the module's notes).

    `screen` is the screen's improvement over the parent, or, while the screen runs, the
    value function's forecast of it (a difference, as `forecasts`): it enters delta with its
    forecast's variance added, and the forecast's progress and degrees of freedom bound the
    look's. P(pass) then ignores that the screen must pass first (an upper bound on the node's
    chance of being accepted: the rule errs towards running on). `finished` are the exact
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
    running = screen if isinstance(screen, Forecast) else None  # the screen still runs
    # delta from the screen, the finished pairs and the forecasts, by precision
    obs = [(sign * running.mean, var + running.sd ** 2) if running else (screen, var)]
    obs += [(g, var) for g in finished] + [(m, var + s * s) for m, s in zip(mus, sds, strict=True)]
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
    looked = [*forecasts, *([running] if running else [])]
    dof = min((f.dof for f in looked), default=df)
    p_pass = float(stats.t.sf((bar - mean) / max(sd, 1e-12), dof))
    return ConfirmForecast(min((f.progress for f in looked), default=1.0), mean, sd, dof, bar,
                           p_pass, min((f.pairs for f in looked), default=0))


def effect_spread(fresh: Sequence[Sequence[float]], sigma: float) -> float | None:
    """tau, the spread of true effects about none, from nodes' fresh improvements (one list per
    node, in improvement units): E[m^2] = delta^2 + sigma^2 / j for the mean m of j pairs.
    None (flat prior) with fewer than MIN_PRIOR_NODES nodes."""
    fresh = [f for f in fresh if f]
    if len(fresh) < MIN_PRIOR_NODES or sigma <= 0:
        return None
    excess = sum((sum(f) / len(f)) ** 2 - sigma * sigma / len(f) for f in fresh) / len(fresh)
    return max(math.sqrt(max(excess, 0.0)), MIN_PRIOR_SD * sigma)
