"""The value-function contract: from curves and values to a forecast and a decision.

A `ValueFunction` is the pure part of early stopping: it is given curves (`Curve`, read by
someone else) and the finished pairs of the run, forecasts a running candidate's final gap to
its parent, and says what a forecast calls for. It reads no file and writes nothing. The loop's
side (`recursor.loop.stopping.EarlyStopping`) reads the metrics files and the store, keeps the
streaks and audits, and records every look; it asks its value function for the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from recursor.value.curves import Curve
from recursor.value.model import Forecast, Pair, PairedCurveModel
from recursor.value.stopper import AuditOutcome, StopRule


class ValueFunction(Protocol):
    minimize: bool
    pairs: tuple[Pair, ...]  # the finished pairs it was fitted on

    def fitted(self, pairs: Sequence[Pair]) -> ValueFunction:
        """The same function fitted on `pairs` (the run's finished pairs have changed)."""
        ...

    def forecast(self, candidate: Curve, reference: Curve,
                 program: object = None) -> Forecast | None:
        """The final difference, candidate minus reference, of a running pair; None when the
        curves or the finished pairs are too few to say."""
        ...

    def p_better(self, forecast: Forecast) -> float:
        """P(the candidate ends better than its reference), whichever way the metric points."""
        ...

    def risk_now(self, outcomes: Sequence[AuditOutcome], scope: str = "seed") -> float:
        """The level of the look `scope` ('seed' or 'confirm'), given the audited stops."""
        ...

    def decide_on(self, p: float, progress: float, evaluation_id: int, risk: float,
                  streak: int | None = None) -> str:
        """continue | stop | audit, for a chance of success `p` forecast at `progress`."""
        ...


class CurveValue:
    """The built-in value function: the paired-curve regression (`PairedCurveModel`) and the
    audited stop rule (`StopRule`)."""

    def __init__(self, rule: StopRule, pairs: Sequence[Pair] = ()):
        self.rule = rule
        self.model = PairedCurveModel(pairs)

    @property
    def minimize(self) -> bool:
        return self.rule.minimize

    @property
    def pairs(self) -> tuple[Pair, ...]:
        return self.model.pairs

    def fitted(self, pairs: Sequence[Pair]) -> CurveValue:
        return CurveValue(self.rule, pairs)

    def forecast(self, candidate: Curve, reference: Curve,
                 program: object = None) -> Forecast | None:
        return self.model.forecast(candidate, reference, program)

    def p_better(self, forecast: Forecast) -> float:
        return self.rule.p_better(forecast)

    def risk_now(self, outcomes: Sequence[AuditOutcome], scope: str = "seed") -> float:
        return self.rule.risk_now(outcomes, scope)

    def decide_on(self, p: float, progress: float, evaluation_id: int, risk: float,
                  streak: int | None = None) -> str:
        return self.rule.decide_on(p, progress, evaluation_id, risk, streak)
