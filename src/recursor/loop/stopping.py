"""The loop's side of the value function: look at running candidates, stop the doomed ones.

At every tick the loop hands over its experiments in flight. A candidate's run (its screen or
one of its confirmation seeds) is looked at each time its curve reaches a new progress point:
the forecast is stored, and when the stop rule says so the loop stops the node. Runs of the
baseline, of parents, held-out runs and the `complete` seeds of a node that already passed its
test are never stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from recursor.executor.job import read_metrics
from recursor.store import EvalStatus, Node, NodeStatus, Prediction, RunStore
from recursor.value import Curve, Forecast, Pair, PairedCurveModel, StopRule, StopSettings
from recursor.value.calibration import audit_outcomes
from recursor.value.curves import looked_at
from recursor.value.history import earlier_pairs, program_key, run_pairs

STOPPABLE = ("screen", "confirm")


@dataclass(frozen=True)
class Flying:
    """What the value function needs of one experiment in flight."""

    evaluation_id: int
    node_id: int
    seed: int
    evaluation: str
    stage: str
    metrics_file: Path


@dataclass(frozen=True)
class Stop:
    node_id: int
    evaluation_id: int
    forecast: Forecast
    p_better: float
    risk: float
    step: int | None

    def verdict(self, parent_id: int) -> dict:
        lo, hi = self.forecast.interval
        return {"stage": "stopped-early", "parent": parent_id, "evaluation": self.evaluation_id,
                "progress": self.forecast.progress, "step": self.step,
                "predicted_difference": self.forecast.mean, "interval90": [lo, hi],
                "p_better": self.p_better, "risk": self.risk, "pairs": self.forecast.pairs}


class EarlyStopping:
    def __init__(self, store: RunStore, metric: str, curve_key: str, minimize: bool,
                 settings: StopSettings, history: Iterable[Pair] = ()):
        self.store, self.metric, self.key = store, metric, curve_key
        self.rule = StopRule(settings, minimize)
        self.history = tuple(history)
        self._curves: dict[int, Curve] = {}  # finished evaluations' curves
        self._programs: dict[int, object] = {}  # node -> its program's identity
        self._pairs_seen: tuple = ()
        self._model = PairedCurveModel(self.history)
        self._looked: dict[int, float] = {}  # evaluation -> last progress point looked at
        self._audited: set[int] = {p.evaluation_id for p in store.predictions()
                                   if p.decision == "audit"}
        self._risk = settings.risk
        self._risk_seen: int = -1

    @classmethod
    def for_run(cls, store: RunStore, task_name: str, overrides: dict, metric: str,
                curve_key: str, minimize: bool, settings: StopSettings) -> EarlyStopping:
        history = earlier_pairs(store.run_dir, task_name, overrides, metric, curve_key)
        return cls(store, metric, curve_key, minimize, settings, history)

    # -- the model, refitted when pairs finish ----------------------------------------------

    def _refresh(self, nodes: dict[int, Node]) -> None:
        found = tuple(run_pairs(nodes.values(), self.metric))
        if found == self._pairs_seen:
            return
        self._pairs_seen = found
        pairs = list(self.history)
        for cand, ref, diff, node in found:
            if node not in self._programs:
                self._programs[node] = program_key(self.store.path(nodes[node].workspace)) or (
                    "this run", node)
            pairs.append(Pair(self._finished_curve(cand), self._finished_curve(ref), diff,
                              self._programs[node]))
        self._model = PairedCurveModel(pairs)
        outcomes = audit_outcomes(self.store.predictions(), nodes.values(), self.rule.minimize)
        self._risk = self.rule.risk_now(outcomes)

    def _finished_curve(self, eval_id: int) -> Curve:
        if eval_id not in self._curves:
            self._curves[eval_id] = Curve.from_points(self.store.curve(eval_id), self.key)
        return self._curves[eval_id]

    @property
    def risk(self) -> float:
        return self._risk

    @property
    def pairs(self) -> int:
        return len(self._model.pairs)

    # -- looking ---------------------------------------------------------------------------

    def look(self, running: Iterable[Flying], nodes: dict[int, Node]) -> list[Stop]:
        """Forecast every stoppable run that reached a new progress point; the stops due."""
        running = list(running)
        self._refresh(nodes)
        live = {(r.node_id, r.seed): r for r in running if r.evaluation == self.metric}
        stops: list[Stop] = []
        for r in running:
            node = nodes.get(r.node_id)
            if (r.stage not in STOPPABLE or r.evaluation != self.metric or node is None or node.is_baseline
                    or node.status is not NodeStatus.RUNNING or r.evaluation_id in self._audited):
                continue
            parent = nodes.get(node.parent_id)
            ref_id, ref_curve = self._reference(parent, r.seed, live)
            if ref_curve is None:
                continue
            curve = Curve.from_points(read_metrics(r.metrics_file)[0], self.key)
            f = looked_at(min(curve.reached, ref_curve.reached))
            if f is None or f <= self._looked.get(r.evaluation_id, 0.0):
                continue
            self._looked[r.evaluation_id] = f
            forecast = self._model.forecast(curve, ref_curve)
            if forecast is None:
                continue
            decision = self.rule.decide(forecast, r.evaluation_id, self._risk)
            p = self.rule.p_better(forecast)
            lo, hi = forecast.interval
            self.store.add_prediction(Prediction(
                r.evaluation_id, ref_id, forecast.progress, curve.step, forecast.mean, lo, hi,
                p, self._risk, decision, time.time()))
            if decision == "audit":
                self._audited.add(r.evaluation_id)
            elif decision == "stop":
                stops.append(Stop(node.id, r.evaluation_id, forecast, p, self._risk,
                                  curve.step))
        return stops

    def _reference(self, parent: Node | None, seed: int,
                   live: dict) -> tuple[int | None, Curve | None]:
        """The parent's run on the same seed: finished (from the store) or still running."""
        if parent is None:
            return None, None
        for e in parent.evaluations:
            if e.evaluation == self.metric and e.seed == seed and e.status is EvalStatus.OK:
                return e.id, self._finished_curve(e.id)
        r = live.get((parent.id, seed))
        if r is None:
            return None, None
        return r.evaluation_id, Curve.from_points(read_metrics(r.metrics_file)[0], self.key)
