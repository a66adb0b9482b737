"""The frozen records that algorithms receive. Only the loop writes, and only through the store."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from recursor.store.verdicts import Verdict


class NodeStatus(StrEnum):
    RUNNING = "running"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"
    STOPPED_EARLY = "stopped-early"

    @property
    def final(self) -> bool:
        return self is not NodeStatus.RUNNING


# the lifecycle: a node is decided once, and a decision is never revised
TRANSITIONS: dict[NodeStatus, frozenset[NodeStatus]] = {
    NodeStatus.RUNNING: frozenset(s for s in NodeStatus if s is not NodeStatus.RUNNING),
    **{s: frozenset() for s in NodeStatus if s is not NodeStatus.RUNNING},
}


class EvalStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    LOST = "lost"  # in flight when the run was killed; run again on resume
    STOPPED = "stopped"  # stopped by the value function, or its node was stopped early


@dataclass(frozen=True)
class Idea:
    title: str
    hypothesis: str = ""
    rationale: str = ""
    source: str = ""
    category: str = "other"
    key: str = ""  # stable name of a library idea; empty for free-form ideas
    proposer: str = ""  # which proposer produced it ("library", "llm:<model>", "person")
    reason: str = ""  # why the proposer chose it for this parent


@dataclass(frozen=True)
class Call:
    """One call to a model (or agent) by a proposer: what it cost and what came of it.

    outcome: "ok" (the proposal was used), "bad-answer", "truncated", "patch-error", "audit",
    "no-change", "undefined-name", "repeat", "duplicate" (each sent back to the model for
    repair), or
    "error:<kind>" (the call failed).
    The prompt and the answer are kept as a transcript file in the run folder, not in the row.
    """

    proposer: str
    model: str
    purpose: str  # "propose" or "repair"
    attempt: int
    input_tokens: int
    output_tokens: int
    cost: float
    seconds: float
    outcome: str
    detail: str = ""
    transcript: str = ""  # the conversation, as Markdown
    node_id: int | None = None
    id: int | None = None
    created_at: float | None = None


@dataclass(frozen=True)
class Prediction:
    """One look of the value function at a running candidate's curve (see recursor.value)."""

    evaluation_id: int
    reference_id: int  # the parent's evaluation on the same seed
    progress: float
    step: int | None
    predicted: float  # final metric difference, candidate minus parent
    lo: float  # 90% predictive interval of that difference
    hi: float
    p_better: float  # probability that the candidate ends better than its parent
    risk: float  # the stop level in force at this look
    decision: str  # continue | stop | audit
    at: float = 0.0
    # 'seed': the pair on this evaluation's seed, as above; 'confirm': the node's confirmation,
    # where predicted/lo/hi are the mean difference over its fresh seeds and p_better the
    # probability that its paired test passes (recursor.value.futility)
    scope: str = "seed"


@dataclass(frozen=True)
class Evaluation:
    """One run of the harness: one program, one seed, one evaluation."""

    id: int
    node_id: int
    seed: int
    evaluation: str
    status: EvalStatus
    value: float | None
    metrics: dict[str, Any]
    reason: str | None
    started_at: float
    finished_at: float | None
    seconds: float | None
    job_dir: str


@dataclass(frozen=True)
class Finding:
    """One result of one auditor check on one node.

    `check` is a short dotted name ("static.network", "causality", "budget.threads"); a
    `blocking` finding means the candidate cannot be accepted, whatever its metric says.
    `evidence` is what a person needs to verify the finding by hand (the offending line, the
    measured numbers).
    """

    check: str
    blocking: bool
    message: str
    evidence: str = ""
    node_id: int | None = None
    seed: int | None = None  # the experiment it came from, for dynamic checks

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "blocking": self.blocking, "message": self.message,
                "evidence": self.evidence, "node_id": self.node_id, "seed": self.seed}


@dataclass(frozen=True)
class Node:
    id: int
    parent_id: int | None
    status: NodeStatus
    idea: Idea | None  # None for the baseline
    patch_path: str | None
    diff_path: str | None
    workspace: str
    created_at: float
    decided_at: float | None
    reason: str | None
    verdict: Verdict | None
    evaluations: tuple[Evaluation, ...] = field(default=())
    findings: tuple[Finding, ...] = field(default=())
    # how each block of the patch was applied: {"block", "path", "rule", "lines", "score"},
    # the rule one of recursor.patch.RULES ("exact" for a patch taken as written)
    applied: tuple[dict[str, Any], ...] = field(default=())

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """The findings that forbid accepting this node."""
        return tuple(f for f in self.findings if f.blocking)

    @property
    def is_baseline(self) -> bool:
        return self.parent_id is None

    @property
    def title(self) -> str:
        return self.idea.title if self.idea else "baseline"

    def values(self, evaluation: str, seeds: Iterable[int] | None = None) -> dict[int, float]:
        """Seed -> metric value of the finished evaluations named `evaluation`, optionally only
        on `seeds` (the task's seeds: a node also runs fresh confirmation seeds, and means are
        compared on the seeds every accepted node shares)."""
        keep = None if seeds is None else set(seeds)
        return {
            e.seed: e.value
            for e in self.evaluations
            if e.evaluation == evaluation and e.status is EvalStatus.OK and e.value is not None
            and (keep is None or e.seed in keep)
        }

    def measured(self, evaluation: str, metric: str,
                 seeds: Iterable[int] | None = None) -> dict[int, float]:
        """Seed -> the value of `metric` (a secondary metric, or the metric itself) that the
        harness reported in the finished evaluations named `evaluation`; seeds whose result
        has no number for it are left out."""
        keep = None if seeds is None else set(seeds)
        out = {}
        for e in self.evaluations:
            if e.evaluation != evaluation or e.status is not EvalStatus.OK:
                continue
            if keep is not None and e.seed not in keep:
                continue
            reported = e.metrics.get("metrics")
            value = reported.get(metric) if isinstance(reported, dict) else None
            # bool is an int to Python, never a measurement
            if isinstance(value, int | float) and not isinstance(value, bool) \
                    and math.isfinite(value):
                out[e.seed] = float(value)
        return out

    def mean(self, evaluation: str, seeds: Iterable[int] | None = None) -> float | None:
        vals = list(self.values(evaluation, seeds).values())
        return sum(vals) / len(vals) if vals else None

    def std(self, evaluation: str, seeds: Iterable[int] | None = None) -> float | None:
        vals = list(self.values(evaluation, seeds).values())
        if len(vals) < 2:
            return None
        m = sum(vals) / len(vals)
        return math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
