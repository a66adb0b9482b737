"""Each node's row in the report's tables: its effect against its parent and why it ended.

`node_rows` computes the rows once, with their text; the terminal table, the Markdown report,
the HTML report and the dashboard print that text, so no two views can tell a different story
about the same node.

The effect is against the node's parent, the comparison the judge makes, with the seed pairs
behind it. A value from the screen alone (one seed, never confirmed) says so, so that it is not
read as a proven gain; the gain over the baseline is kept for accepted nodes only, since a
rejected node's lucky screening seed would otherwise look better than the best.

Why a node ended is read from what is stored typed (its status, its verdict, its blocking
findings, its evaluations), never from the words of its reason: the loop stores a null result
that the auditor also flagged as "auditor: ...; judge: not proven better", and that is a null
result, not a caught cheat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from recursor.store import EvalStatus, Node, NodeStatus
from recursor.store.verdicts import (
    ConfirmVerdict,
    ParentFailedVerdict,
    ScreenVerdict,
    StoppedEarlyVerdict,
)

# why a node ended, for styling: the label says it in words
KINDS = ("baseline", "accepted", "not-better", "stopped-early", "auditor", "failed",
         "not-tested", "duplicate", "rejected", "running", "constraint")


@dataclass(frozen=True)
class Effect:
    """A node's effect against its parent, + = better, whichever way the metric points.

    basis: "test" (the judge's paired test on fresh seeds), "screen" (the screening seed only,
    never confirmed), "pairs" (seeds both ran, never tested), "so-far" (the pairs of a node
    still running, whose test may be under way), "forecast" (the value function's
    forecast for a node it stopped before any pair ended: not measured), "none" (nothing to
    compare).
    """

    parent: int
    value: float | None  # mean paired improvement, in metric units
    pct: float | None  # of the parent's mean over the task's seeds
    pairs: int
    basis: str
    ci95: tuple[float, float] | None = None  # the test's, in metric units
    ci95_pct: tuple[float, float] | None = None
    progress: float | None = None  # a forecast: how far the stopped run had come

    @property
    def text(self) -> str:
        if self.basis == "none" or self.value is None:
            return "no value"
        size = f"{self.pct:+.2f}%" if self.pct is not None else f"{self.value:+.4g}"
        pairs = f"{self.pairs} pair{'' if self.pairs == 1 else 's'}"
        said = {"test": pairs,
                "screen": "screen only, 1 seed",
                "pairs": f"{pairs}, not tested",
                "so-far": f"{pairs} so far",
                "forecast": "forecast" + (f" at {self.progress:.0%}"
                                          if self.progress is not None else "")}[self.basis]
        return f"{size} vs #{self.parent} ({said})"

    @property
    def ci_text(self) -> str:
        if self.ci95_pct is not None:
            return f"[{self.ci95_pct[0]:+.2f}%, {self.ci95_pct[1]:+.2f}%]"
        if self.ci95 is not None:
            return f"[{self.ci95[0]:+.4g}, {self.ci95[1]:+.4g}]"
        return ""


@dataclass(frozen=True)
class Why:
    kind: str  # one of KINDS
    label: str  # what the tables print: "not better", "auditor: seed-consistency", ...
    detail: str = ""  # one sentence behind it


@dataclass(frozen=True)
class NodeRow:
    id: int
    parent: int | None
    status: str
    effect: Effect | None  # None for the baseline
    why: Why
    vs_baseline_pct: float | None  # accepted nodes only

    def to_json(self) -> dict[str, Any]:
        effect = None
        if self.effect is not None:
            effect = {**asdict(self.effect), "text": self.effect.text,
                      "ci_text": self.effect.ci_text}
            for key in ("ci95", "ci95_pct"):
                effect[key] = None if effect[key] is None else list(effect[key])
        return {"vs_parent": effect, "why": asdict(self.why),
                "vs_baseline_pct": self.vs_baseline_pct}


def node_rows(nodes: Mapping[int, Node], metric: str, minimize: bool, seeds: Sequence[int],
              timeout_seconds: float | None = None, min_effect: float = 0.0) -> list[NodeRow]:
    """The row of every node, in id order. `seeds` are the task's seeds (the first is the
    screen); `timeout_seconds` the task's limit, by which a failed run that was killed is told
    from one that crashed; `min_effect` the task's, for verdicts that did not record whether
    their test passed."""
    baseline = next((n for n in nodes.values() if n.is_baseline), None)
    base_mean = baseline.mean(metric, seeds) if baseline else None
    rows = []
    for node in sorted(nodes.values(), key=lambda n: n.id):
        parent = nodes.get(node.parent_id) if node.parent_id is not None else None
        vs_base = None
        if node.status is NodeStatus.ACCEPTED and not node.is_baseline:
            vs_base = _pct(_improvement(base_mean, node.mean(metric, seeds), minimize), base_mean)
        rows.append(NodeRow(
            node.id, node.parent_id, node.status.value,
            None if node.is_baseline else _effect(node, parent, metric, minimize, seeds),
            _why(node, metric, timeout_seconds, min_effect), vs_base))
    return rows


def metric_text(mean: float | None, n: int, of: int) -> str:
    """A node's mean over the task's seeds, saying on how many when not on all of them."""
    if mean is None:
        return "–"
    return f"{mean:.4f}" if n >= of else f"{mean:.4f} ({n} seed{'' if n == 1 else 's'})"


# -- the effect ------------------------------------------------------------------------------


def _improvement(parent: float | None, value: float | None, minimize: bool) -> float | None:
    if parent is None or value is None:
        return None
    return (parent - value) if minimize else (value - parent)


def _pct(x: float | None, of: float | None) -> float | None:
    return None if x is None or not of else 100 * x / abs(of)


def _effect(node: Node, parent: Node | None, metric: str, minimize: bool,
            seeds: Sequence[int]) -> Effect:
    parent_id = node.parent_id if node.parent_id is not None else -1
    scale = parent.mean(metric, seeds) if parent else None
    v = node.verdict
    if isinstance(v, ConfirmVerdict):
        # what the judge tested, on the fresh seeds: the screen seed chose the candidate
        pct = v.effect_pct if v.effect_pct is not None else _pct(v.effect, scale)
        return Effect(parent_id, v.effect, pct, len(v.seeds), "test", tuple(v.ci95),
                      None if v.ci95_pct is None else tuple(v.ci95_pct))
    gains = []
    if parent is not None:
        mine, theirs = node.values(metric), parent.values(metric)
        gains = [(s, _improvement(theirs[s], mine[s], minimize)) for s in sorted(mine)
                 if s in theirs]
    # the screen seed is where the candidate was chosen for looking better: once other pairs
    # have ended, it is left out of their mean, as the judge leaves it out of its test
    screen = seeds[0] if seeds else None
    later = [g for s, g in gains if s != screen]
    if later:
        mean = sum(later) / len(later)
        return Effect(parent_id, mean, _pct(mean, scale), len(later),
                      "so-far" if node.status is NodeStatus.RUNNING else "pairs")
    if gains:
        return Effect(parent_id, gains[0][1], _pct(gains[0][1], scale), 1, "screen")
    if isinstance(v, (ScreenVerdict, ParentFailedVerdict)):
        return Effect(parent_id, v.screen_gain, _pct(v.screen_gain, scale), 1, "screen")
    if isinstance(v, StoppedEarlyVerdict):
        # the forecast of the final difference, node minus parent, as an improvement
        gain = -v.predicted_difference if minimize else v.predicted_difference
        return Effect(parent_id, gain, _pct(gain, scale), 0, "forecast",
                      progress=None if v.pairs_ended else v.progress)
    return Effect(parent_id, None, None, 0, "none")


# -- why it ended ----------------------------------------------------------------------------


def _why(node: Node, metric: str, timeout_seconds: float | None, min_effect: float) -> Why:
    v = node.verdict
    status = node.status
    if node.is_baseline:
        return Why("baseline", "baseline", "the task's program as given: the noise floor")
    if status is NodeStatus.RUNNING:
        return Why("running", "running")
    if status is NodeStatus.ACCEPTED:
        p = f" (p={v.p_value:.3g} on {len(v.seeds)} fresh pairs)" if isinstance(
            v, ConfirmVerdict) else ""
        return Why("accepted", "accepted", f"better than node {node.parent_id} beyond noise{p}")
    if status is NodeStatus.STOPPED_EARLY:
        return Why("stopped-early", "stopped early", _stop_detail(v, node.parent_id))
    if status is NodeStatus.FAILED:
        return _failed(node, metric, timeout_seconds)
    # rejected: by the judge's test, by the auditor, or before anything ran
    blocking = node.blocking
    if isinstance(v, ScreenVerdict):
        return Why("not-better", "not better",
                   f"no better than node {v.parent} on the screening seed")
    if isinstance(v, ConfirmVerdict) and not _passed(v, min_effect):
        why = (f"p={v.p_value:.3g}, not below the test level {v.alpha:g}"
               if v.p_value >= v.alpha else f"effect below the task's minimum {min_effect:g}")
        return Why("not-better", "not better",
                   f"the paired test against node {v.parent} did not pass ({why}) on "
                   f"{len(v.seeds)} fresh pairs")
    if isinstance(v, ParentFailedVerdict):
        return Why("not-tested", "not tested: parent failed",
                   f"node {v.parent} failed on a confirmation seed: nothing to compare against")
    if isinstance(v, ConfirmVerdict) and _passed(v, min_effect) and not blocking:
        # better, and nothing blocked it: a bound on another metric did (judge.constraints),
        # which the judge's reason names first
        detail = (node.reason or "").removeprefix("constraint: ")
        named = detail.split(" ", 1)[0] if node.reason != detail else ""
        return Why("constraint", f"constraint: {named}" if named else "constraint", detail)
    if blocking:
        first = blocking[0]
        more = f" (and {len(blocking) - 1} more blocking finding(s))" if len(blocking) > 1 else ""
        return Why("auditor", f"auditor: {first.check}", first.message + more)
    if v is None and not node.evaluations:
        # the loop rejects a proposal unrun, without a verdict or a finding, only when the
        # run holds its program already
        return Why("duplicate", "duplicate (not run)", node.reason or "")
    return Why("rejected", "rejected", node.reason or "")


def _passed(v: ConfirmVerdict, min_effect: float) -> bool:
    """Whether the judge's test passed; verdicts of a recursor that did not record it are
    judged again by the rule it applied."""
    if v.passed is not None:
        return v.passed
    return v.p_value < v.alpha and v.effect >= min_effect


def _stop_detail(v: Any, parent: int | None) -> str:
    if not isinstance(v, StoppedEarlyVerdict):
        return "the value function stopped it"
    if v.scope == "confirm":
        return (f"the value function forecast its paired test to fail: P(passes) "
                f"{v.p_pass:.2g} < {v.risk:g}")
    chance = f" {v.p_better:.2g} < {v.risk:g}" if v.p_better is not None else ""
    return (f"the value function forecast it no better than node {parent}: "
            f"P(better){chance} at {v.progress:.0%} of a run")


def _failed(node: Node, metric: str, timeout_seconds: float | None) -> Why:
    failed = [e for e in node.evaluations if e.status is EvalStatus.FAILED]
    if not node.evaluations and not node.workspace:
        # a node is stored without program files only when its patch did not apply
        return Why("failed", "failed: did not apply", node.reason or "")
    if not failed:
        return Why("failed", "failed", node.reason or "")
    first = failed[0]
    # the executor kills a run at the task's limit; a run that lasted that long was killed
    killed = (timeout_seconds is not None and first.seconds is not None
              and first.seconds >= 0.99 * timeout_seconds)
    where = f"seed {first.seed}" + ("" if first.evaluation == metric else f" ({first.evaluation})")
    return Why("failed", "failed: timed out" if killed else "failed: crashed",
               f"{where}: {first.reason or 'no reason recorded'}")
