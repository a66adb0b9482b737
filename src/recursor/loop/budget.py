"""The run's budgets, experiments, minutes and compute: what is spent, and whether one more
candidate fits.

Compute is counted in seed-run equivalents (SRE): the seconds of every evaluation that ended
(screens, confirmations, held-out and final runs, a stopped run's own seconds), over the
baseline's mean seconds per run of the task's metric. A replayed result (a result cache) counts
its recorded seconds, so a repeated deterministic run spends exactly what its first did.

Candidates proposed ahead (`RunConfig.propose_ahead`) wait for a worker as running nodes with
no evaluation yet; they are counted here, so that a run never proposes past its budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from recursor.loop.config import RunConfig
from recursor.store import EvalStatus, Node, NodeStatus


class Budget:
    def __init__(self, config: RunConfig, metric: str):
        self.config = config
        self.metric = metric  # the evaluation whose baseline runs are the unit of compute

    @staticmethod
    def candidates(nodes: Mapping[int, Node]) -> int:
        return sum(1 for n in nodes.values() if not n.is_baseline)

    def room(self, nodes: Mapping[int, Node], elapsed: float, coming: int = 0) -> bool:
        """Whether one more candidate fits, beside `coming` already on their way (a proposal
        out): within the experiments, and before the deadline."""
        c = self.config
        if c.experiments is not None and self.candidates(nodes) + coming >= c.experiments:
            return False
        if c.seed_runs is not None and spent_sre(nodes, self.metric) >= c.seed_runs:
            return False
        return not (c.minutes is not None and elapsed >= c.minutes * 60)

    def spent(self, nodes: Mapping[int, Node], elapsed: float) -> str | None:
        """Which budget is spent, if one is."""
        c = self.config
        if c.experiments is not None and self.candidates(nodes) >= c.experiments:
            return f"experiment budget of {c.experiments} spent"
        if c.minutes is not None and elapsed >= c.minutes * 60:
            return f"time budget of {c.minutes:g} minutes spent"
        if c.seed_runs is not None and spent_sre(nodes, self.metric) >= c.seed_runs:
            return f"compute budget of {c.seed_runs:g} seed runs spent"
        return None


def queued(nodes: Mapping[int, Node], flying: Iterable[int]) -> int:
    """Candidates waiting for a worker: running, with no evaluation started (`flying`: the
    nodes of the runs in flight, whose evaluations `nodes` may not show yet)."""
    busy = set(flying)
    return sum(1 for n in nodes.values()
               if n.status is NodeStatus.RUNNING and not n.is_baseline and not n.evaluations
               and n.id not in busy)


def seed_run_seconds(nodes: Mapping[int, Node] | Iterable[Node], metric: str) -> float | None:
    """The unit of compute: the baseline's mean seconds per ended run of `metric`; None before
    it has one."""
    values = nodes.values() if isinstance(nodes, Mapping) else nodes
    baseline = next((n for n in values if n.is_baseline), None)
    if baseline is None:
        return None
    seconds = [e.seconds for e in baseline.evaluations if e.evaluation == metric
               and e.status is EvalStatus.OK and e.seconds]
    return sum(seconds) / len(seconds) if seconds else None


def spent_seconds(nodes: Mapping[int, Node] | Iterable[Node]) -> float:
    """Seconds of every evaluation that ended, whatever its kind or outcome."""
    values = nodes.values() if isinstance(nodes, Mapping) else nodes
    return sum(e.seconds or 0.0 for n in values for e in n.evaluations
               if e.finished_at is not None)


def spent_sre(nodes: Mapping[int, Node] | Iterable[Node], metric: str) -> float:
    """Compute spent so far in seed-run equivalents (0 before the baseline's first run)."""
    values = list(nodes.values() if isinstance(nodes, Mapping) else nodes)
    unit = seed_run_seconds(values, metric)
    return spent_seconds(values) / unit if unit else 0.0
