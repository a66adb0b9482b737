"""The built-in library proposer: no network, no model, always available.

For a parent, it considers the task's ideas that are not in the parent's lineage, not already
tried on this parent, and whose patch applies to the parent's files. It prefers, in order:

1. ideas accepted on another branch of this run (they have worked once already);
2. ideas not yet tried anywhere in the run;
3. ideas rejected or failed elsewhere (an idea rejected on one branch can still win on another).

Within a tier the choice is random, seeded by the run's state, and the reason is recorded.
"""

from __future__ import annotations

import random

from recursor import patch as patches
from recursor.errors import PatchError
from recursor.proposer.base import Proposal, ProposalContext
from recursor.store.records import Idea, NodeStatus
from recursor.task.ideas import LibraryIdea

TIERS = (
    "accepted on another branch of this run",
    "not yet tried in this run",
    "tried elsewhere in this run without success; retried on a new parent",
)


class LibraryProposer:
    name = "library"

    def __init__(self) -> None:
        self._applies: dict[tuple[int, str], bool] = {}  # (node, idea) -> applies; nodes are immutable

    def available(self, ctx: ProposalContext) -> list[LibraryIdea]:
        used = {n.idea.key for n in ctx.lineage if n.idea}
        used |= {n.idea.key for n in ctx.children(ctx.parent.id) if n.idea}
        return [i for i in ctx.task.ideas
                if i.key not in used and i.runs_here() and self._fits(ctx, i)]

    def has_ideas_for(self, ctx: ProposalContext) -> bool:
        return bool(self.available(ctx))

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        candidates = self.available(ctx)
        if not candidates:
            return None
        outcomes: dict[str, set[NodeStatus]] = {}
        for n in ctx.nodes:
            if n.idea and n.idea.key:
                outcomes.setdefault(n.idea.key, set()).add(n.status)

        def tier(idea: LibraryIdea) -> int:
            seen = outcomes.get(idea.key, set())
            if NodeStatus.ACCEPTED in seen:
                return 0
            return 1 if not seen else 2

        best = min(tier(i) for i in candidates)
        pool = [i for i in candidates if tier(i) == best]
        choice = random.Random(ctx.seed).choice(pool)
        reason = (f"{TIERS[best]}; picked at random among {len(pool)} such ideas "
                  f"({len(candidates)} applicable to node {ctx.parent.id})")
        idea = Idea(
            title=choice.title,
            hypothesis=choice.hypothesis,
            rationale=choice.rationale,
            source=choice.source,
            category=choice.category,
            key=choice.key,
            proposer=self.name,
            reason=reason,
        )
        return Proposal(idea=idea, patch_text=choice.patch_text)

    def _fits(self, ctx: ProposalContext, idea: LibraryIdea) -> bool:
        key = (ctx.parent.id, idea.key)
        if key not in self._applies:
            try:
                patches.apply(idea.patch, ctx.parent_files)
                self._applies[key] = True
            except PatchError:
                self._applies[key] = False
        return self._applies[key]
