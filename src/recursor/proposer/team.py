"""A team of proposers in one run: which one gets the next turn.

- Models: when several are configured, a bandit (UCB1) gives more turns to the model whose ideas
  get accepted: reward 1 for an accepted node, 0 for a rejected or failed one, undecided nodes
  not counted yet. Every model gets a first turn before the bandit compares them.
- Personas: within a model, a persona with a failed experiment to repair on the parent goes
  first; otherwise the persona with the fewest proposals so far, so every specialty gets its
  turns.
- Islands: under the islands policy, island i gets the personas whose position is i modulo the
  number of islands (with 4 personas and 3 islands: optimizer and contrarian, architecture,
  systems), so the sub-populations search differently, not only separately.
- The library: with `library_share` s > 0, the built-in library proposes whenever its share of
  the run's proposals is below s (and it has an idea left for the parent).

Every count is read from the tree (`idea.proposer`), so the choice is a pure function of the
run's state: the same state gives the same turn, and a resumed run goes on where it stopped.
One exception: a persona's failed proposals (no node came of them) count as its turns for the
rest of the session, so that a persona whose answers keep failing does not take every turn.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from recursor.proposer.base import Proposal, ProposalContext, ProposalFailed, Proposer
from recursor.proposer.llm.researcher import LLMResearcher
from recursor.store.records import NodeStatus


class Team:
    def __init__(self, researchers: Sequence[Proposer], library: Proposer | None = None,
                 library_share: float = 0.0, exploration: float = 1.0):
        if not researchers and library is None:
            raise ValueError("a team needs at least one proposer")
        self.researchers = list(researchers)
        # the library may be asked from two threads: the team's turn on the proposer's thread,
        # and the loop's gap-filling on its own (loop/proposing.py)
        self.library = None if library is None else Serialized(library)
        self.library_share = library_share if researchers else 1.0
        self.exploration = exploration
        self.name = "team"
        self._failed: dict[str, int] = {}  # proposals that failed, per member, this session

    def has_ideas_for(self, ctx: ProposalContext) -> bool:
        return any(p.has_ideas_for(ctx) for p in self._members())

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        member = self.pick(ctx)
        try:
            return member.propose(ctx)
        except ProposalFailed:
            # a turn that gave nothing is still a turn: a persona whose answers keep failing
            # must not take every turn because it has the fewest nodes
            self._failed[member.name] = self._failed.get(member.name, 0) + 1
            raise

    def pick(self, ctx: ProposalContext) -> Proposer:
        """The proposer whose turn it is for `ctx.parent`."""
        if self.library is not None and self.library.has_ideas_for(ctx):
            ours = [n for n in ctx.nodes if n.idea]
            from_library = sum(n.idea.proposer == self.library.name for n in ours)
            if not self.researchers or from_library < self.library_share * (len(ours) + 1):
                return self.library
        if not self.researchers:
            return self.library  # type: ignore[return-value]  # has_ideas_for said no: it ends
        model = self._model(ctx)
        mine = [r for r in self.researchers if _model_of(r) == model]
        if ctx.island is not None:  # each island its own share of the personas, in turn
            island, islands = ctx.island
            mine = [r for j, r in enumerate(mine) if j % islands == island % islands] or mine
        # a failed experiment of a member on this parent is repaired first: the error is the
        # most specific thing the run can tell a model, and repairs are bounded per idea
        due = [r for r in mine if isinstance(r, LLMResearcher) and r.repair_due(ctx)]
        if due:
            return due[0]
        counts = {r.name: self._failed.get(r.name, 0) for r in mine}
        for n in ctx.nodes:
            if n.idea and n.idea.proposer in counts:
                counts[n.idea.proposer] += 1
        return min(mine, key=lambda r: (counts[r.name], mine.index(r)))

    def _model(self, ctx: ProposalContext) -> str:
        models = list(dict.fromkeys(_model_of(r) for r in self.researchers))
        tried = {m: 0 for m in models}
        won = {m: 0 for m in models}
        for n in ctx.nodes:
            m = _model_of_proposer(n.idea.proposer) if n.idea else None
            if m in tried and n.status is not NodeStatus.RUNNING:
                tried[m] += 1
                won[m] += n.status is NodeStatus.ACCEPTED
        untried = [m for m in models if tried[m] == 0]
        if untried:
            return untried[0]
        total = sum(tried.values())

        def ucb(m: str) -> tuple[float, int]:
            bonus = math.sqrt(2 * math.log(total) / tried[m])
            return (won[m] / tried[m] + self.exploration * bonus, -models.index(m))

        return max(models, key=ucb)

    def _members(self) -> list[Proposer]:
        return [*self.researchers, *([self.library] if self.library else [])]


def _model_of(researcher: Proposer) -> str:
    return _model_of_proposer(researcher.name) or researcher.name


def _model_of_proposer(proposer: str) -> str | None:
    """'llm:gpt-4o-mini:optimizer' -> 'llm:gpt-4o-mini'; other proposers have no model.

    The persona is the last part: a model name may hold colons itself (Ollama's 'qwen2.5:7b').
    """
    if proposer.startswith("llm:") and proposer.count(":") >= 2:
        return proposer.rsplit(":", 1)[0]
    return None


class Serialized:
    """A proposer whose calls hold a lock, so that it is safe from two threads at once."""

    def __init__(self, proposer: Proposer):
        self._proposer = proposer
        self.name = proposer.name
        self._lock = threading.Lock()

    def has_ideas_for(self, ctx: ProposalContext) -> bool:
        with self._lock:
            return self._proposer.has_ideas_for(ctx)

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        with self._lock:
            return self._proposer.propose(ctx)
