"""Judging given changes by hand: `recursor try TASK --patch FILE`, `recursor.try_patches`.

A trial is an ordinary run whose proposer hands over the given patches (each against the
baseline) instead of library ideas, so a person's change meets the same sandbox, auditor and
judge as every idea recursor tries itself, and leaves the same run folder behind as evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recursor.errors import RecursorError
from recursor.loop.setup import research
from recursor.loop.snapshot import run_task_snapshot
from recursor.proposer.base import Proposal, ProposalContext
from recursor.store import RunStore
from recursor.store.records import Idea, Node, NodeStatus
from recursor.store.verdicts import ConfirmVerdict


@dataclass(frozen=True)
class GivenPatch:
    title: str
    patch_text: str
    hypothesis: str = ""


class GivenPatches:
    """A proposer that offers each given patch once, on the baseline, in order."""

    name = "person"

    def __init__(self, patches: Sequence[GivenPatch]):
        self.patches = list(patches)

    def _next(self, ctx: ProposalContext) -> GivenPatch | None:
        if not ctx.parent.is_baseline:
            return None
        tried = len(ctx.children(ctx.parent.id))
        return self.patches[tried] if tried < len(self.patches) else None

    def has_ideas_for(self, ctx: ProposalContext) -> bool:
        return self._next(ctx) is not None

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        given = self._next(ctx)
        if given is None:
            return None
        idea = Idea(title=given.title, hypothesis=given.hypothesis, proposer="person",
                    reason="given by hand", key=f"given-{len(ctx.children(ctx.parent.id))}")
        return Proposal(idea, given.patch_text)


def verdict(node: Node, baseline: Node, metric: str, seeds: Sequence[int],
            minimize: bool) -> dict[str, Any]:
    """The answer of `recursor try --json` for one given patch."""
    status = {NodeStatus.ACCEPTED: "accepted", NodeStatus.FAILED: "failed"}.get(
        node.status, "rejected")
    reasons = [node.reason] if node.reason else []
    reasons += [f"{f.check}: {f.message}" for f in node.findings
                if f.blocking and f"{f.check}: {f.message}" not in (node.reason or "")]
    mean, base = node.mean(metric, seeds), baseline.mean(metric, seeds)
    pct = None
    if mean is not None and base:
        pct = 100 * ((base - mean) if minimize else (mean - base)) / abs(base)
    test = node.verdict if isinstance(node.verdict, ConfirmVerdict) else None
    return {
        "node": node.id,
        "title": node.title,
        "status": status,
        "reasons": reasons,
        "seeds": sorted(e.seed for e in node.evaluations if e.evaluation == metric),
        "mean": mean,
        "baseline_mean": base,
        "improvement_pct": pct,
        "effect": test.effect if test else None,
        "ci95": list(test.ci95) if test else None,
        "p_value": test.p_value if test else None,
        "audit": [f.to_dict() for f in node.findings],
    }


def try_patches(
    task: str | Path,
    patches: Sequence[str | Path],
    *,
    run_dir: Path | str | None = None,
    workers: int | None = None,
    overrides: dict[str, Any] | None = None,
    sandbox: str = "auto",
    heldout: bool = True,
    alpha: float = 0.02,
    discoveries: bool = False,
    objective: str | None = None,
) -> list[dict[str, Any]]:
    """Judge given changes (unified diffs or SEARCH/REPLACE blocks; text or file paths), each
    against the task's baseline, with the full judge and auditor. Returns one verdict per patch
    (`status`, `reasons`, `seeds`, `mean`, `baseline_mean`, `improvement_pct`, `audit`, ...).
    A trial judges and does not research: it keeps nothing in the discovery library unless
    `discoveries` is set. `objective` judges another of the task's metrics (see
    recursor.task.objectives)."""
    given = []
    for i, p in enumerate(patches, start=1):
        if isinstance(p, str) and "\n" in p:  # the patch itself, not a file name
            given.append(GivenPatch(f"patch {i}", p))
        elif Path(p).is_file():
            given.append(GivenPatch(Path(p).name, Path(p).read_text()))
        else:
            raise RecursorError(f"no patch file {p}")
    folder = research(task, run_dir=run_dir, experiments=len(given), workers=workers, alpha=alpha,
                      overrides=overrides, proposer=GivenPatches(given), sandbox=sandbox,
                      heldout=heldout, discoveries=discoveries, objective=objective)
    done = RunStore.open(folder, readonly=True)
    try:
        nodes = done.nodes()
        spec = run_task_snapshot(done).spec
        baseline = next(n for n in nodes if n.is_baseline)
        box = done.meta().get("sandbox") or {}
        return [{**verdict(n, baseline, spec.metric.name, spec.seeds.values, spec.minimize),
                 "sandbox": box.get("kind")} for n in nodes if not n.is_baseline]
    finally:
        done.close()
