"""The value function's side of the research loop: looking at the runs in flight, and applying
the stops it calls for to the store and the workers (`recursor.loop.stopping` decides them).

A part of `ResearchLoop` (engine.py), apart for the engine's size: the attributes below are the
loop's.
"""

from __future__ import annotations

from recursor.executor.base import Executor
from recursor.judge import Judge, Pooled
from recursor.loop.config import RunConfig
from recursor.loop.jobs import Flight
from recursor.loop.stopping import Confirmation, EarlyStopping, Flying, Stop
from recursor.store import Node, NodeStatus, RunStore
from recursor.task import Task


class ValueLooks:
    stopping: EarlyStopping | None
    config: RunConfig
    store: RunStore
    task: Task
    judge: Judge
    metric: str
    executor: Executor
    _flights: dict[int, Flight]
    _abandoned: set[int]  # runs in flight whose node was stopped early
    _nodes: dict[int, Node]
    _noise: Pooled | None

    def _event(self, kind: str, message: str, node_id: int | None = None) -> None:
        raise NotImplementedError

    def _tested_with(self, node: Node) -> tuple[float, float, int]:
        raise NotImplementedError

    def _describe_stopping(self) -> str:
        if self.stopping is not None:
            return self.stopping.describe(self.config.stop_audit)
        return "early stopping: " + ("turned off for this run" if not self.config.early_stop else
                                     "the task names no curve quantity (metric.curve), so every "
                                     "experiment runs to its end")

    def _look(self) -> None:
        # also with nothing in flight: a confirmation pair that just ended is looked at before
        # the next fill starts the node's next pair
        if self.stopping is None:
            return
        flying = [Flying(f.evaluation.id, f.evaluation.node_id, f.evaluation.seed,
                         f.evaluation.evaluation, f.stage, f.job.metrics_file, f.job.token)
                  for f in self._flights.values() if f.evaluation.id not in self._abandoned]
        confirmation = None if self._noise is None else Confirmation(
            self.judge.confirmation_bar(self._noise), self._noise.sigma,
            self.task.spec.seeds.values[0],
            lambda node: self.judge.forecast_seeds(node, self._nodes), self._noise.df,
            tested_with=self._tested_with)
        for stop in self.stopping.look(flying, self._nodes, confirmation):
            self._stop_node(stop)
        for node_id, message in self.stopping.take_notices():
            self._event("value", message, node_id)

    def _stop_node(self, stop: Stop) -> None:
        node = self._nodes[stop.node_id]
        reason = stop.reason(self.metric, self.task.spec.minimize, node.parent_id)
        node = self.store.decide(node.id, NodeStatus.STOPPED_EARLY, reason,
                                 stop.verdict(node.parent_id))
        self._nodes[node.id] = node
        self._event("stopped-early", f"node {node.id} '{node.title}' {reason}", node.id)
        # its runs in flight, and the parent's runs on its confirmation seeds, serve nothing now
        fresh = set(self.judge.confirmation_seeds(node))
        for f in self._flights.values():
            ev = f.evaluation
            if ev.node_id == node.id or (ev.node_id == node.parent_id and ev.seed in fresh):
                self._abandoned.add(ev.id)
                self.executor.cancel(f.job.key)
