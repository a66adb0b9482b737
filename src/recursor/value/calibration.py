"""How good the value function's forecasts were, from what a run recorded.

Every look is stored with its forecast (recursor.store: predictions). Once the candidate's and the
parent's runs on that seed have both finished, the forecast meets the truth: its error, whether
the 90% interval held it, and, for an audited would-be stop, whether the stop would have been
wrong (the candidate ended better than its parent) and whether its node was accepted in the end:
a false stop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from recursor.store.records import EvalStatus, Node, NodeStatus, Prediction
from recursor.value.stopper import AuditOutcome


def _finals(nodes: Iterable[Node]) -> tuple[dict[int, float], dict[int, Node]]:
    values, owner = {}, {}
    for node in nodes:
        for e in node.evaluations:
            owner[e.id] = node
            if e.status is EvalStatus.OK and e.value is not None:
                values[e.id] = e.value
    return values, owner


def audit_outcomes(predictions: Iterable[Prediction], nodes: Iterable[Node],
                   minimize: bool) -> list[AuditOutcome]:
    values, owner = _finals(nodes)
    sign = -1.0 if minimize else 1.0
    seen, out = set(), []
    for p in predictions:
        if p.decision != "audit" or p.evaluation_id in seen:
            continue
        if p.evaluation_id in values and p.reference_id in values:
            seen.add(p.evaluation_id)
            gain = sign * (values[p.evaluation_id] - values[p.reference_id])
            accepted = owner[p.evaluation_id].status is NodeStatus.ACCEPTED
            out.append(AuditOutcome(p.evaluation_id, gain, accepted))
    return out


def summary(predictions: list[Prediction], nodes: list[Node], minimize: bool) -> dict[str, Any]:
    """The value function's record in a run, for the report."""
    values, _ = _finals(nodes)
    errors, inside = [], 0
    for p in predictions:
        if p.evaluation_id in values and p.reference_id in values:
            actual = values[p.evaluation_id] - values[p.reference_id]
            errors.append(abs(actual - p.predicted))
            inside += p.lo <= actual <= p.hi
    audits = audit_outcomes(predictions, nodes, minimize)
    stopped = {p.evaluation_id for p in predictions if p.decision == "stop"}
    stopped_nodes = [n for n in nodes if n.status is NodeStatus.STOPPED_EARLY]
    wrong = sum(1 for a in audits if a.improvement > 0)
    false = sum(1 for a in audits if a.accepted)
    return {
        "looks": len(predictions),
        "evaluations_looked": len({p.evaluation_id for p in predictions}),
        "stopped": len(stopped),
        "stopped_nodes": len(stopped_nodes),
        "audited": len(audits),
        "audited_pending": len({p.evaluation_id for p in predictions
                                if p.decision == "audit"}) - len(audits),
        "audited_better": wrong,  # would-be stops that ended better than the parent
        "audited_accepted": false,  # ... whose node was accepted: false stops
        "wrong_stop_rate": wrong / len(audits) if audits else None,
        "false_stop_rate": false / len(audits) if audits else None,
        "checked_forecasts": len(errors),
        "mean_abs_error": sum(errors) / len(errors) if errors else None,
        "coverage90": inside / len(errors) if errors else None,
        "risk_last": predictions[-1].risk if predictions else None,
    }
