"""The gates a judge's verdict passes before it stands: the auditor's checks across seeds and
windows, then the held-out evaluations.

`across_seeds`: once a node has its confirmed verdict, its seed-consistency (and, for an accept,
fresh-data) checks. `HeldOut`: which held-out runs are due, and the gate of an accept. A node the
judge accepts stays undecided until its held-out runs and its parent's are in (the parent's
first: the node's own runs are audited against them). Then its accept stands only if no
held-out run failed, none was blocked by the harness's audits, and its public gain carries over
to the held-out evaluation (`recursor.audit.transfer`); a held-out loss short of that is a flag.
Accepted nodes whose held-out runs are not in yet (the baseline, or nodes of a run made before
the gate) still run them, as before, for the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from recursor.audit import evidence, transfer
from recursor.judge import Judge
from recursor.store import EvalStatus, Finding, Node, NodeStatus
from recursor.task import Task

Run = tuple[int, int, str, str]  # (node id, seed, evaluation, stage)
ENDED = (EvalStatus.OK, EvalStatus.FAILED)


def across_seeds(node: Node, parent: Node, judge: Judge, accept: bool, sigma: float | None,
                 seeds: Sequence[int]) -> list[Finding]:
    """The auditor's checks across seeds and windows on a confirmed verdict: seed-consistency,
    and for an accept, fresh-data."""
    found = evidence.seed_consistency(node, parent, judge, sigma)
    if accept:
        found += evidence.fresh_data(node, parent, judge, seeds)
    return found


class HeldOut:
    def __init__(self, task: Task, enabled: bool):
        spec = task.spec
        self.due = ([(ev.name, tuple(spec.seeds.values[:ev.seeds]))
                     for ev in spec.evaluations if ev.held_out and not ev.final] if enabled else [])

    def __bool__(self) -> bool:
        return bool(self.due)

    def next_for(self, node: Node, parent: Node, flying: set) -> Run | None:
        """The next held-out run a node the judge accepted waits for."""
        for who in (parent, node):
            run = self._next(who, flying)
            if run is not None:
                return run
        return None

    def next_accepted(self, nodes: Mapping[int, Node], flying: set) -> Run | None:
        """The next held-out run of an accepted node that has not had them all."""
        for node in sorted(nodes.values(), key=lambda n: n.id):
            if node.status is NodeStatus.ACCEPTED:
                run = self._next(node, flying)
                if run is not None:
                    return run
        return None

    def _next(self, node: Node, flying: set) -> Run | None:
        for name, seeds in self.due:
            done = {e.seed for e in node.evaluations if e.evaluation == name
                    and e.status in ENDED}
            for seed in seeds:
                if seed not in done and (node.id, seed, name) not in flying:
                    return node.id, seed, name, "held-out"
        return None

    def complete(self, node: Node, parent: Node) -> bool:
        """Whether every held-out run of `node` and of its parent has ended."""
        return all(any(e.evaluation == name and e.seed == seed and e.status in ENDED
                       for e in who.evaluations)
                   for who in (node, parent) for name, seeds in self.due for seed in seeds)

    def gate(self, node: Node, parent: Node, judge: Judge, sigma: float,
             nodes: Mapping[int, Node]) -> list[Finding]:
        """The findings that decide whether a judge's accept stands: a failed held-out run
        (blocking), a public gain that does not transfer at all (blocking), a held-out loss
        (a flag)."""
        found: list[Finding] = []
        for name, seeds in self.due:
            failed = next((e for e in node.evaluations if e.evaluation == name
                           and e.seed in seeds and e.status is EvalStatus.FAILED), None)
            if failed is not None:
                found.append(Finding(
                    f"held-out.{name}", True,
                    f"the program fails on the held-out evaluation {name} (seed {failed.seed}: "
                    f"{failed.reason}): a method must run on data it was not searched on",
                    f"{name} seed {failed.seed}: {failed.reason}", node.id))
                continue
            found += evidence.held_out(node, parent, judge, name, seeds)
            found += transfer.transfer(node, parent, judge, name, seeds, sigma,
                                       ratios(nodes, judge, name, seeds, node.id))
        return found

    def flags(self, node: Node, parent: Node, judge: Judge) -> list[Finding]:
        """For an accepted node whose held-out runs came in after it was accepted: a held-out
        loss, flagged once."""
        return evidence.held_out_due(node, parent, judge, self.due)


def ratios(nodes: Mapping[int, Node], judge: Judge, name: str, seeds: Sequence[int],
           exclude: int) -> list[float]:
    """Held-out / public gain of the run's accepted nodes (but `exclude`)."""
    out = []
    for node in nodes.values():
        if node.is_baseline or node.id == exclude or node.status is not NodeStatus.ACCEPTED:
            continue
        parent = nodes.get(node.parent_id)
        measured = parent and transfer.gains(node, parent, judge, name, seeds)
        if measured and measured[0] > 0:
            out.append(measured[1] / measured[0])
    return out


def harness_findings(metrics: Mapping, node_id: int, seed: int) -> list[Finding]:
    """The findings a harness reported with its result (ignoring malformed entries)."""
    found = []
    for f in metrics.get("findings") or []:
        if isinstance(f, dict) and isinstance(f.get("check"), str):
            found.append(Finding(f["check"], bool(f.get("blocking", True)),
                                 str(f.get("message", "")), str(f.get("evidence", "")),
                                 node_id, seed))
    return found
