"""The held-out side of the research loop: which held-out and final runs are due, and what
they conclude (recursor.loop.gates, recursor.loop.final decide them).

A part of `ResearchLoop` (engine.py), apart for the engine's size: the attributes below are the
loop's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recursor.judge import Judge
from recursor.loop.final import Final
from recursor.loop.final import describe as describe_final
from recursor.loop.gates import HeldOut
from recursor.loop.jobs import Flight
from recursor.store import Node, RunStore

Run = tuple[int, int, str, str]  # (node id, seed, evaluation, stage)


class HeldOutRuns:
    heldout: HeldOut
    final: Final
    judge: Judge
    store: RunStore
    _flights: dict[int, Flight]
    _nodes: dict[int, Node]
    _event: Callable[..., None]
    _add_findings: Callable[..., Any]

    def _pending_heldout(self, flying: set | None = None) -> Run | None:
        flying = flying if flying is not None else self._flying()
        return self.heldout.next_accepted(self._nodes, flying)

    def _pending_final(self, flying: set | None = None) -> Run | None:
        """The next final run (recursor.loop.final), once the search is over."""
        if not self.final:
            return None
        flying = flying if flying is not None else self._flying()
        return self.final.next_run(self._nodes, self.judge, flying)

    def _flying(self) -> set[tuple[int, int, str]]:
        return {(f.evaluation.node_id, f.evaluation.seed, f.evaluation.evaluation)
                for f in self._flights.values()}

    def _check_heldout(self, node: Node) -> None:
        """Once every held-out run of an accepted node is in, flag a public win that lost
        held-out (a node gated before its accept has had this already)."""
        parent = self._nodes.get(node.parent_id) if node.parent_id is not None else None
        if parent is None:
            return
        self._add_findings(node, self.heldout.flags(node, parent, self.judge))

    def _conclude(self) -> None:
        """The final evaluations' verdicts, once, when every final run is in."""
        verdicts = self.final.verdicts(self._nodes, self.judge) if self.final else None
        if verdicts is not None and self.store.meta().get("final") != verdicts:
            self.store.set_meta("final", verdicts)
            for v in verdicts:
                self._event("final", describe_final(v), v.get("node"))
