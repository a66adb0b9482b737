"""The run's budgets, experiments and minutes: what is spent, and whether one more candidate fits.

Candidates proposed ahead (`RunConfig.propose_ahead`) wait for a worker as running nodes with
no evaluation yet; they are counted here, so that a run never proposes past its budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from recursor.loop.config import RunConfig
from recursor.store import Node, NodeStatus


class Budget:
    def __init__(self, config: RunConfig):
        self.config = config

    @staticmethod
    def candidates(nodes: Mapping[int, Node]) -> int:
        return sum(1 for n in nodes.values() if not n.is_baseline)

    def room(self, nodes: Mapping[int, Node], elapsed: float, coming: int = 0) -> bool:
        """Whether one more candidate fits, beside `coming` already on their way (a proposal
        out): within the experiments, and before the deadline."""
        c = self.config
        if c.experiments is not None and self.candidates(nodes) + coming >= c.experiments:
            return False
        return not (c.minutes is not None and elapsed >= c.minutes * 60)

    def spent(self, nodes: Mapping[int, Node], elapsed: float) -> str | None:
        """Which budget is spent, if one is."""
        c = self.config
        if c.experiments is not None and self.candidates(nodes) >= c.experiments:
            return f"experiment budget of {c.experiments} spent"
        if c.minutes is not None and elapsed >= c.minutes * 60:
            return f"time budget of {c.minutes:g} minutes spent"
        return None


def queued(nodes: Mapping[int, Node], flying: Iterable[int]) -> int:
    """Candidates waiting for a worker: running, with no evaluation started (`flying`: the
    nodes of the runs in flight, whose evaluations `nodes` may not show yet)."""
    busy = set(flying)
    return sum(1 for n in nodes.values()
               if n.status is NodeStatus.RUNNING and not n.is_baseline and not n.evaluations
               and n.id not in busy)
