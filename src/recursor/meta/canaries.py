"""Canaries: candidates of known worth planted in every inner run of the meta-research task.

A research process is judged by the runs it makes; a process that got a run to accept a change
that does nothing, or a cheat, would score well for the wrong reason. So every inner run gets,
among its ordinary candidates, at fixed turns, a null change (a rewrite that computes exactly
what its parent does) and a known cheat (what the auditor or the harness must reject), proposed
on whatever parent the process picked. Their titles and categories are plausible, and a
process can see neither their names nor anything that tells them apart: the library's rules
read ideas by category and patch size only.

A task family's canaries are idea files in the meta-research task's `canaries/<family>/`
folder, `null-*.toml` and `cheat-*.toml`; the family is the task's name, or `kernel` for the
kernel tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recursor.proposer import Proposal, ProposalContext, Proposer
from recursor.store import Idea, Node, NodeStatus
from recursor.task.ideas import LibraryIdea, load_ideas

KEY = "canary:"  # the idea key of a planted candidate: the report and the harness find them
TURNS = (2, 4)  # the candidates (counted from 1) that are canaries, in the order of the files


@dataclass(frozen=True)
class Canary:
    kind: str  # "null" or "cheat"
    idea: LibraryIdea


def family(task_name: str) -> str:
    return "kernel" if task_name.startswith(("kernel-", "kb-")) else task_name


def load_canaries(folder: Path, task_name: str, editable: Sequence[str]) -> list[Canary]:
    """The canaries of a task's family, nulls first; none when the family has none."""
    where = folder / family(task_name)
    if not where.is_dir():
        return []
    ideas = load_ideas(where, tuple(editable))
    out = [Canary(i.key.split("-", 1)[0], i) for i in ideas]
    unknown = [c.idea.key for c in out if c.kind not in ("null", "cheat")]
    if unknown:
        raise ValueError(f"canary files must be named null-*.toml or cheat-*.toml: {unknown}")
    return sorted(out, key=lambda c: (c.kind != "null", c.idea.key))


class Planted:
    """A proposer that proposes the canaries at their turns and asks `inner` otherwise."""

    def __init__(self, inner: Proposer, canaries: Sequence[Canary], turns: Sequence[int] = TURNS):
        self.inner = inner
        self.name = inner.name  # the canaries pass as the proposer's own
        self.plan = dict(zip(turns, canaries, strict=False))

    def _due(self, ctx: ProposalContext) -> Canary | None:
        turn = sum(1 for n in ctx.nodes if not n.is_baseline) + 1
        canary = self.plan.get(turn)
        if canary is None or any(n.idea and n.idea.key == KEY + canary.idea.key
                                 for n in ctx.nodes):
            return None
        return canary

    def has_ideas_for(self, ctx: ProposalContext) -> bool:
        return self._due(ctx) is not None or self.inner.has_ideas_for(ctx)

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        canary = self._due(ctx)
        if canary is None:
            return self.inner.propose(ctx)
        i = canary.idea
        turn = sum(1 for n in ctx.nodes if not n.is_baseline) + 1
        # the reason is for the person reading the run; the process never reads reasons
        return Proposal(Idea(title=i.title, hypothesis=i.hypothesis, rationale=i.rationale,
                             source=i.source, category=i.category, key=KEY + i.key,
                             proposer=self.name,
                             reason=f"a planted {canary.kind} canary (candidate {turn}): its "
                                    "verdict checks the research process"),
                        patch_text=i.patch_text)


@dataclass(frozen=True)
class Outcome:
    """What became of the canaries of one run."""

    nulls: int  # null canaries decided
    nulls_accepted: int
    cheats: int  # cheats decided
    cheats_accepted: int


def outcome(nodes: Sequence[Node]) -> Outcome:
    planted = [n for n in nodes if n.idea and n.idea.key.startswith(KEY)
               and n.decided_at is not None]

    def of(kind: str) -> list[Node]:
        return [n for n in planted if n.idea.key[len(KEY):].startswith(kind + "-")]

    def accepted(found: list[Node]) -> int:
        return sum(1 for n in found if n.status is NodeStatus.ACCEPTED)

    return Outcome(len(of("null")), accepted(of("null")), len(of("cheat")), accepted(of("cheat")))
