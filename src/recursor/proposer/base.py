"""The proposer contract: (task, parent, history) -> an idea with a patch.

Every proposer, the built-in library one and (later) LLM researchers, answers with the same
`Proposal`: an idea (title, hypothesis, rationale, ...) and SEARCH/REPLACE blocks against the
parent's files. The loop applies the patch; a proposer never touches a workspace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from recursor.discoveries.records import Discovery
from recursor.errors import RecursorError
from recursor.store.records import Call, Idea, Node
from recursor.task.folder import Task


@dataclass(frozen=True)
class ProposalContext:
    task: Task
    parent: Node
    parent_files: dict[str, str]
    lineage: tuple[Node, ...]  # root first, parent last
    nodes: tuple[Node, ...]  # every node of the run so far, running ones included
    seed: int  # for any randomness, so that the same run state gives the same proposal
    cost_left: float | None = None  # dollars the run may still spend on model calls; None: no cap
    island: tuple[int, int] | None = None  # (island, islands) under the islands policy
    # the discovery library (recursor.discoveries): accepted steps of earlier runs of this task on
    # the same baseline, and of other tasks
    past_discoveries: tuple[Discovery, ...] = ()
    other_discoveries: tuple[Discovery, ...] = ()
    # program_hash of every program the run holds -> the first node with it: two ideas in
    # either order on two branches make one program, which need not run twice
    programs: Mapping[str, int] = field(default_factory=dict)
    # time.monotonic() at which the run's time budget ends (None: no time budget): a proposer
    # that would call a model again after it stops and gives back what it has
    deadline: float | None = None
    # the task's trial run (`[trial]`, recursor.loop.preflight): files -> why the program
    # failed when run briefly, or None; None when the task has no trial
    trial: Callable[[Mapping[str, str]], str | None] | None = None

    def children(self, node_id: int) -> list[Node]:
        return [n for n in self.nodes if n.parent_id == node_id]


@dataclass(frozen=True)
class Proposal:
    idea: Idea
    patch_text: str
    calls: tuple[Call, ...] = ()  # the model calls behind it, stored with the node
    # a model's patch, quoted from memory: the applier's whole ladder may place it
    generous: bool = False


class ProposalFailed(RecursorError):
    """A proposer tried and has no usable proposal this time (the run goes on without one).

    Unlike `propose` returning None ("nothing left for this parent"), this is a failure: a model
    that kept answering garbage, an endpoint that is down. The calls are recorded all the same.
    """

    def __init__(self, reason: str, calls: tuple[Call, ...] = ()):
        super().__init__(reason)
        self.reason = reason
        self.calls = calls


class Proposer(Protocol):
    name: str

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        """An idea for `ctx.parent`, or None when this proposer has nothing left for it."""
        ...

    def has_ideas_for(self, ctx: ProposalContext) -> bool:
        """Whether `propose` would return an idea for this parent (used to pick parents)."""
        ...
