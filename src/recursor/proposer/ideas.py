"""The built-in library proposer: no network, no model, always available.

For a parent, it considers the task's ideas, and the past discoveries of the same task from the
discovery library (recursor.discoveries), that are not in the parent's lineage, not already tried on
this parent, and whose patch applies to the parent's files and makes a program the run does not
hold yet (two ideas in either order on two branches are one program). It prefers, in order:

1. past discoveries of this task (accepted in an earlier run on the same baseline), in the order
   they were found: they worked once, and their patch applies to this parent as it is;
2. ideas accepted on another branch of this run (they have worked once already);
3. ideas like a discovery of another task (the same idea key, or the same kind of idea): what
   worked there is the best guess here;
4. ideas not yet tried anywhere in the run;
5. ideas rejected or failed elsewhere (an idea rejected on one branch can still win on another).

Within a tier the choice is random, seeded by the run's state (past discoveries go in their
order), and the reason is recorded. The run's `idea_rule` setting changes how the ideas after the
past discoveries are ordered, by the ideas' features only (their category and the size of their
patch), never by their names:

- `tiers` (the default): by tier, then at random;
- `cheapest`: by tier, then the smallest patch first (the least to go wrong), then at random;
- `prior`: by tier, then by the weight of the idea's category (`idea_weights`, 1 unless given),
  then at random: what other tasks taught, as a preference over kinds of idea;
- `bandit`: by the category's upper confidence bound on this run's acceptance rate (UCB1 with
  constant `idea_exploration`; a category not yet tried first), then by tier, then at random.

A discovery proposed again keeps its id in the idea's key
(`discovery:<id>`), so the report can say which accepted steps came from the library.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping

from recursor import patch as patches
from recursor.discoveries.records import Discovery, program_hash
from recursor.errors import PatchError
from recursor.proposer.base import Proposal, ProposalContext
from recursor.store.records import Idea, NodeStatus
from recursor.task.ideas import LibraryIdea

TIERS = (
    "a past discovery of this task",
    "accepted on another branch of this run",
    "like a discovery of another task",
    "not yet tried in this run",
    "tried elsewhere in this run without success; retried on a new parent",
)
DISCOVERY = "discovery:"
RULES = ("tiers", "cheapest", "prior", "bandit")  # the `idea_rule` setting's choices


def discovery_idea(d: Discovery) -> LibraryIdea:
    """A past discovery, as an idea the library can propose."""
    return LibraryIdea(key=DISCOVERY + d.id, title=d.title, category=d.category,
                       hypothesis=d.hypothesis, rationale=d.rationale,
                       source=f"discovery {d.short} ({d.task}, run {d.origin.get('run', '?')}, "
                              f"node {d.origin.get('node', '?')}); {d.source}".rstrip("; "),
                       patch_text=d.patch, patch=patches.parse_any(d.patch))


def result_hash(idea: LibraryIdea, files: Mapping[str, str]) -> str | None:
    """The program hash of `idea` applied to `files`; None when its patch does not apply."""
    try:
        return program_hash({**files, **patches.apply(idea.patch, files)})
    except PatchError:
        return None


def fits(idea: LibraryIdea, ctx: ProposalContext) -> bool:
    """`idea` applies to the parent and makes a program the run does not hold: not a step the
    parent already took (its SEARCH text is gone, or the result is the parent itself)."""
    result = result_hash(idea, ctx.parent_files)
    return result is not None and result not in ctx.programs


class LibraryProposer:
    name = "library"

    def __init__(self, rule: str = "tiers", exploration: float = 1.0,
                 weights: Mapping[str, float] | None = None) -> None:
        if rule not in RULES:
            raise ValueError(f"unknown idea rule {rule!r}; choose {', '.join(RULES)}")
        self.rule = rule
        self.exploration = exploration
        self.weights = dict(weights or {})
        # (node, idea) -> program_hash of the result, None: does not apply; nodes are immutable
        self._results: dict[tuple[int, str], str | None] = {}
        self._ideas: dict[str, LibraryIdea | None] = {}  # discovery id -> as an idea
        self._original: dict[str, str] = {}  # discovery key -> the library idea it was

    def _past(self, ctx: ProposalContext) -> list[LibraryIdea]:
        """The past discoveries of this task, as ideas, in the order they were found."""
        out = []
        for d in sorted(ctx.past_discoveries, key=lambda d: (d.depth, d.created_at)):
            if d.id not in self._ideas:
                try:
                    self._ideas[d.id] = discovery_idea(d)
                except PatchError:  # a record edited by hand into an unreadable patch
                    self._ideas[d.id] = None
                self._original[DISCOVERY + d.id] = d.key
            if self._ideas[d.id] is not None:
                out.append(self._ideas[d.id])
        return out

    def _used(self, ctx: ProposalContext) -> set[str]:
        used = {n.idea.key for n in ctx.lineage if n.idea}
        used |= {n.idea.key for n in ctx.children(ctx.parent.id) if n.idea}
        # a discovery in the lineage is its library idea too, and the other way round
        used |= {self._original[k] for k in used if self._original.get(k)}
        return used

    def available(self, ctx: ProposalContext) -> list[LibraryIdea]:
        used = self._used(ctx)
        past = [i for i in self._past(ctx) if i.key not in used and self._fits(ctx, i)
                and not (self._original[i.key] and self._original[i.key] in used)]
        return past + [i for i in ctx.task.ideas
                       if i.key not in used and i.runs_here() and self._fits(ctx, i)]

    def _fits(self, ctx: ProposalContext, idea: LibraryIdea) -> bool:
        """The idea's patch applies to the parent and makes a program the run does not hold
        yet (A then B on one branch is B then A on another: its verdict is known)."""
        key = (ctx.parent.id, idea.key)
        if key not in self._results:
            self._results[key] = result_hash(idea, ctx.parent_files)
        result = self._results[key]
        return result is not None and result not in ctx.programs

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
        elsewhere = ctx.other_discoveries
        by_key = {d.key: d.task for d in elsewhere if d.key}
        by_kind = {d.category: d.task for d in elsewhere if d.category not in ("", "other")}

        def tier(idea: LibraryIdea) -> int:
            if idea.key.startswith(DISCOVERY):
                return 0
            seen = outcomes.get(idea.key, set())
            if NodeStatus.ACCEPTED in seen:
                return 1
            if not seen and (idea.key in by_key or idea.category in by_kind):
                return 2
            return 3 if not seen else 4

        if any(tier(i) == 0 for i in candidates):
            pool = [i for i in candidates if tier(i) == 0]
            choice = pool[0]  # in the order they were found: each built on the one before
            reason = f"{TIERS[0]}, tried first ({len(pool)} left that apply to node {ctx.parent.id})"
        else:
            choice, why = self._choose(candidates, tier, ctx)
            like = by_key.get(choice.key) or by_kind.get(choice.category)
            best = tier(choice)
            reason = (f"{TIERS[best]}{f' ({like})' if best == 2 else ''}; {why} "
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

    def _choose(self, candidates: list[LibraryIdea], tier: Callable[[LibraryIdea], int],
                ctx: ProposalContext) -> tuple[LibraryIdea, str]:
        """The idea the rule ranks first, ties broken at random, and why, in words."""
        if self.rule == "bandit":
            ucb = self._bandit(ctx)
            top = max(ucb(i.category) for i in candidates)
            pool = [i for i in candidates if ucb(i.category) == top]
            first = min(tier(i) for i in pool)
            pool = [i for i in pool if tier(i) == first]
            why = (f"category {pool[0].category} has the highest upper bound on this run's "
                   f"acceptance rate ({'untried' if math.isinf(top) else f'{top:.2f}'}); picked "
                   f"at random among {len(pool)} such ideas")
        else:
            first = min(tier(i) for i in candidates)
            pool = [i for i in candidates if tier(i) == first]
            why = f"picked at random among {len(pool)} such ideas"
            if self.rule == "cheapest":
                least = min(_size(i) for i in pool)
                pool = [i for i in pool if _size(i) == least]
                why = f"the smallest patch ({least} lines); picked at random among {len(pool)}"
            elif self.rule == "prior":
                most = max(self.weights.get(i.category, 1.0) for i in pool)
                pool = [i for i in pool if self.weights.get(i.category, 1.0) == most]
                why = (f"categories weighted {most:g} by the prior; picked at random among "
                       f"{len(pool)}")
        return random.Random(ctx.seed).choice(pool), why

    def _bandit(self, ctx: ProposalContext) -> Callable[[str], float]:
        """UCB1 over idea categories: this run's decided library ideas, accepted or not."""
        tried: dict[str, int] = {}
        won: dict[str, int] = {}
        for n in ctx.nodes:
            if n.idea and n.idea.key and n.decided_at is not None:
                tried[n.idea.category] = tried.get(n.idea.category, 0) + 1
                won[n.idea.category] = won.get(n.idea.category, 0) + (
                    n.status is NodeStatus.ACCEPTED)
        total = sum(tried.values())

        def ucb(category: str) -> float:
            n = tried.get(category, 0)
            if n == 0:
                return math.inf
            return won[category] / n + self.exploration * math.sqrt(2 * math.log(total) / n)

        return ucb


def _size(idea: LibraryIdea) -> int:
    """An idea's patch size in lines: the feature `cheapest` ranks by."""
    return len(idea.patch_text.strip().splitlines())
