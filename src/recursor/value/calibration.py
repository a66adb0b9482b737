"""How good the value function's forecasts were, from what a run recorded.

Every look is stored with its forecast (recursor.store: predictions). Once the candidate's and the
parent's runs on that seed have both finished, the forecast meets the truth: its error, whether
the 90% interval held it, and, for an audited would-be stop, whether the stop would have been
wrong (the candidate ended better than its parent; for a futility look, its test passed) and
whether its node was accepted in the end: a false stop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from recursor.store.records import EvalStatus, Node, NodeStatus, Prediction
from recursor.store.verdicts import ConfirmVerdict, ScreenVerdict
from recursor.value.stopper import AuditOutcome


def _finals(nodes: Iterable[Node]) -> tuple[dict[int, float], dict[int, Node]]:
    values, owner = {}, {}
    for node in nodes:
        for e in node.evaluations:
            owner[e.id] = node
            if e.status is EvalStatus.OK and e.value is not None:
                values[e.id] = e.value
    return values, owner


def _actual(p: Prediction, values: dict[int, float], owner: dict[int, Node],
            sign: float) -> float | None:
    """The true final difference (candidate minus parent) a look forecast, once it is known:
    on the look's seed, or for a confirmation look the mean over the node's fresh seeds, which
    its verdict keeps as the test's effect (an improvement: positive = better)."""
    if p.scope == "confirm":
        node = owner.get(p.evaluation_id)
        verdict = node.verdict if node is not None else None
        if not isinstance(verdict, ConfirmVerdict) or verdict.effect is None:
            return None
        return sign * verdict.effect
    if p.evaluation_id in values and p.reference_id in values:
        return values[p.evaluation_id] - values[p.reference_id]
    return None


def audit_outcomes(predictions: Iterable[Prediction], nodes: Iterable[Node],
                   minimize: bool) -> list[AuditOutcome]:
    values, owner = _finals(nodes)
    sign = -1.0 if minimize else 1.0
    seen, out = set(), []
    for p in predictions:
        if p.decision != "audit" or (p.scope, p.evaluation_id) in seen:
            continue
        node = owner.get(p.evaluation_id)
        verdict = node.verdict if node is not None else None
        actual = _actual(p, values, owner, sign)
        if actual is not None:
            improvement = sign * actual
        elif p.scope == "confirm" and isinstance(verdict, ScreenVerdict):
            # a test look made while the screen ran, on a node its screen then rejected: the
            # test never ran and the node was not accepted, so the stop was not a false one;
            # the screen's improvement is the one measured
            improvement = verdict.screen_gain
        else:
            continue
        seen.add((p.scope, p.evaluation_id))
        out.append(AuditOutcome(p.evaluation_id, improvement,
                                node.status is NodeStatus.ACCEPTED, p.scope,
                                isinstance(verdict, ConfirmVerdict) and bool(verdict.passed)))
    return out


def _accuracy(looks: list[Prediction], values: dict[int, float], owner: dict[int, Node],
              sign: float) -> tuple[int, float | None, float | None]:
    """(forecasts checked, mean absolute error, share inside their 90% interval)."""
    errors, inside = [], 0
    for p in looks:
        actual = _actual(p, values, owner, sign)
        if actual is not None:
            errors.append(abs(actual - p.predicted))
            inside += p.lo <= actual <= p.hi
    if not errors:
        return 0, None, None
    return len(errors), sum(errors) / len(errors), inside / len(errors)


def summary(predictions: list[Prediction], nodes: list[Node], minimize: bool) -> dict[str, Any]:
    """The value function's record in a run, for the report."""
    values, owner = _finals(nodes)
    sign = -1.0 if minimize else 1.0
    per_seed = [p for p in predictions if p.scope == "seed"]
    confirm = [p for p in predictions if p.scope == "confirm"]
    checked, error, coverage = _accuracy(per_seed, values, owner, sign)
    c_checked, c_error, c_coverage = _accuracy(confirm, values, owner, sign)
    audits = audit_outcomes(predictions, nodes, minimize)
    stops = {(p.scope, p.evaluation_id) for p in predictions if p.decision == "stop"}
    stopped_nodes = [n for n in nodes if n.status is NodeStatus.STOPPED_EARLY]
    wrong = sum(1 for a in audits if a.wrong)
    false = sum(1 for a in audits if a.accepted)
    return {
        "looks": len(predictions),
        "evaluations_looked": len({p.evaluation_id for p in predictions}),
        "stopped": len(stops),
        "stopped_futile": sum(1 for scope, _ in stops if scope == "confirm"),
        "stopped_nodes": len(stopped_nodes),
        "audited": len(audits),
        "audited_pending": len({(p.scope, p.evaluation_id) for p in predictions
                                if p.decision == "audit"}) - len(audits),
        # would-be stops that were wrong: the candidate ended better than the parent on that
        # seed, or (futility) its confirmation test passed
        "audited_better": wrong,
        "audited_accepted": false,  # ... whose node was accepted: false stops
        "wrong_stop_rate": wrong / len(audits) if audits else None,
        "false_stop_rate": false / len(audits) if audits else None,
        "checked_forecasts": checked,
        "mean_abs_error": error,
        "coverage90": coverage,
        "checked_confirm_forecasts": c_checked,
        "confirm_mean_abs_error": c_error,
        "confirm_coverage90": c_coverage,
        "risk_last": per_seed[-1].risk if per_seed else None,
        "test_risk_last": confirm[-1].risk if confirm else None,
    }
