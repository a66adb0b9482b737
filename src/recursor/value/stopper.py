"""The stop rule: when a forecast says a candidate is very unlikely to beat its parent.

A look at a running candidate gives P(better): the forecast's probability that the candidate's
final metric ends better than its parent's on the same seed (the comparison the screen makes),
or, in the confirmation stage, that the node's paired test passes (recursor.value.futility).
Below its risk level the experiment is stopped, except for a deterministic sample of `audit` of
such experiments, which run to the end with their would-be stop recorded: how often those ended
better than the parent (or passed their test) is the run's measured false-stop rate. When it
exceeds `target`, the risk level halves for every audit beyond what the target allows, so the
rule grows more careful on its own; it is recomputed from the store at every look, so a resumed
run keeps its caution.

The two looks have their own levels. `risk` is for P(better on the seed): a coin toss for a
near-null, so a low level stops only the clearly worse. `test_risk` is for P(the paired test
passes): a null candidate passes the judge's test with probability alpha (0.02 by default), so a
level at or under alpha could stop only the candidates forecast *worse* than null, and the
near-nulls, which are most of what passes a screen and most of a run's cost, would run every
confirmation pair. A node is given up when its test is forecast to pass less than 15 times in
100. That is above the false-stop target (10% of stops) because most stops fall far below the
level: replayed on the seven full arms of the value-function bench (seeds 9-15, 486 seed runs),
0.15 gave up 94 nodes in their screen, none of the 15 accepted, and saved 34% of the seed runs
where 0.10 saved 22%; at 0.20 two winners were lost (docs/benchmarks.md, 2026-12-04). The audits hold
the rate to the target in every run. Each level tightens on the audits of its own look.

A forecast from a partial curve is stopped on only when `looks` successive looks of the same
run (the per-seed look) or node (the test look) are below the level. One reading of a curve can
be an outlier: a candidate that changes the batch size sees other minibatches than its parent,
the noise the pairing cancels comes back, and one window's gap can jump a few hundredths and
back (the seed-11 bench stopped a winner on such a jump, its look before and after far above
the level). A doomed candidate's looks stay below, so a second look costs it one grid step
(5% of its run); a look between pairs, on finished runs only, has no reading to doubt and
decides at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from recursor import settings
from recursor.errors import SettingsError
from recursor.settings import RunConfig
from recursor.value.model import Forecast

MIN_RISK = 1e-4


@dataclass(frozen=True)
class StopSettings:
    """The stop rule's levels. `risk`, `test_risk` and `audit` are the run settings stop_risk,
    stop_test_risk and stop_audit (recursor.settings), whose defaults and checks they take; the
    others are the rule's own."""

    risk: float = settings.default("stop_risk")  # stop below this P(beating the parent) on a seed
    test_risk: float = settings.default("stop_test_risk")  # confirmation: below this P(passing)
    audit: float = settings.default("stop_audit")  # would-be stops run on to measure false stops
    target: float = 0.10  # false-stop rate above which the risk level tightens
    min_progress: float = 0.2  # no look before this share of the experiment
    looks: int = 2  # successive forecast looks below the level before a stop

    def __post_init__(self) -> None:
        problems = settings.problems(
            {"stop_risk": self.risk, "stop_test_risk": self.test_risk, "stop_audit": self.audit},
            {"stop_risk": "stop risk", "stop_test_risk": "stop test risk",
             "stop_audit": "stop audit share"})
        if self.looks < 1:
            problems.append(f"stop looks must be at least 1 (got {self.looks})")
        if problems:
            raise SettingsError("; ".join(problems))

    @classmethod
    def of(cls, config: RunConfig) -> StopSettings:
        """The levels a run's config sets."""
        return cls(risk=config.stop_risk, test_risk=config.stop_test_risk, audit=config.stop_audit)


@dataclass(frozen=True)
class AuditOutcome:
    """An audited would-be stop whose experiment finished."""

    evaluation_id: int
    # the candidate's final improvement over its parent: on that seed (scope 'seed'), or the
    # mean over its fresh seeds (scope 'confirm')
    improvement: float
    accepted: bool  # its node was accepted in the end
    scope: str = "seed"
    passed: bool = False  # scope 'confirm': the node's paired test passed

    @property
    def wrong(self) -> bool:
        """The stop would have been wrong: the candidate did beat its parent on that seed, or
        its confirmation test did pass."""
        return self.passed if self.scope == "confirm" else self.improvement > 0


class StopRule:
    def __init__(self, settings: StopSettings, minimize: bool):
        self.settings = settings
        self.minimize = minimize

    def p_better(self, forecast: Forecast) -> float:
        below = forecast.p_below(0.0)
        return below if self.minimize else 1.0 - below

    def risk_now(self, outcomes: Sequence[AuditOutcome], scope: str = "seed") -> float:
        """The base risk of the look `scope` ('seed', or 'confirm': the test's), halved once
        for each wrong audited stop of that look beyond the target rate."""
        base = self.settings.test_risk if scope == "confirm" else self.settings.risk
        mine = [o for o in outcomes if o.scope == scope]
        wrong = sum(1 for o in mine if o.wrong)
        excess = wrong - self.settings.target * len(mine)
        if excess <= 0:
            return base
        return max(MIN_RISK, base * 0.5 ** math.ceil(excess))

    def decide(self, forecast: Forecast, evaluation_id: int, risk: float,
               streak: int | None = None) -> str:
        """continue | stop | audit (would stop, runs on so the stop can be checked)."""
        return self.decide_on(self.p_better(forecast), forecast.progress, evaluation_id, risk,
                              streak)

    def decide_on(self, p: float, progress: float, evaluation_id: int, risk: float,
                  streak: int | None = None) -> str:
        """The same, for a probability of success `p` forecast at `progress`. `streak` is the
        number of successive looks, this one included, below the level (`Streaks`); None for
        a look on finished runs, which needs no second one."""
        if progress < self.settings.min_progress - 1e-9 or p >= risk:
            return "continue"
        if streak is not None and streak < self.settings.looks:
            return "continue"
        return "audit" if audited(evaluation_id, self.settings.audit) else "stop"


class Streaks:
    """Successive looks below the level, per run or node: what `StopRule.decide_on` needs of the
    looks before this one. Rebuilt from the stored looks on resume."""

    def __init__(self) -> None:
        self._n: dict[object, int] = {}

    def add(self, key: object, p: float, risk: float) -> int:
        self._n[key] = self._n.get(key, 0) + 1 if p < risk else 0
        return self._n[key]

    def reset(self, key: object) -> None:
        """A look that was not made counts as one above the level."""
        self._n[key] = 0


def audited(evaluation_id: int, share: float) -> bool:
    """A fixed pseudo-random draw per evaluation: the same on resume, spread over the run."""
    return ((evaluation_id * 2654435761) % 2**32) / 2**32 < share
