"""The proposer's side of the research loop: one proposal at a time, on its own thread.

A model can take a minute to answer. The loop must not wait for it: finished experiments are
recorded and judged meanwhile, and free workers take the seeds that undecided nodes need. So a
proposal is started (`start`), the loop goes on, and the candidate is added once it is back
(`take`). Proposers need not be thread-safe: there is never more than one call out.

Proposing ends for good when no proposer has an idea for any accepted node (`exhausted`), or
early (`stopped` says why) when the cost cap is reached or proposing failed
`MAX_FAILED_PROPOSALS` times in a row (an endpoint that is down ends the run, resumable later).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from recursor.audit.memorisation import task_corpus
from recursor.executor.sandbox import Sandbox
from recursor.loop.candidates import Programs, add_candidate
from recursor.loop.config import RunConfig
from recursor.loop.discoveries import RunLibrary
from recursor.loop.preflight import Preflight
from recursor.policy import IslandPolicy, SearchPolicy, SearchView
from recursor.proposer import Proposal, ProposalContext, ProposalFailed, Proposer
from recursor.proposer.team import Team
from recursor.store import Node, NodeStatus, RunStore
from recursor.task import Task

MAX_FAILED_PROPOSALS = 5  # in a row

Event = Callable[[str, str, int | None], None]


class Proposals:
    """Asks the policy for a parent and the proposer for a candidate of it, off the loop's
    thread; adds the candidate to the store when it is back."""

    def __init__(self, store: RunStore, task: Task, config: RunConfig, proposer: Proposer,
                 policy: SearchPolicy, discoveries: RunLibrary | None, event: Event,
                 data_paths: Mapping[str, str] | None = None, sandbox: Sandbox | None = None,
                 task_hash: str | None = None):
        self.store, self.task, self.config = store, task, config
        # the task's trial run of a model's candidate, if it has one (and runs can be made)
        self.preflight = (Preflight(task, store.run_dir, data_paths, sandbox, task_hash)
                          if task.spec.trial is not None and sandbox is not None
                          and data_paths is not None else None)
        # the task's data, for the auditor's memorisation check: indexed on the first review,
        # once per run (the LLM researchers' own pre-checks share it through task_corpus)
        self.corpus = task_corpus(task, data_paths) if data_paths else None
        self.proposer, self.policy, self.discoveries = proposer, policy, discoveries
        self._event = event
        self.exhausted = False  # no proposer has anything left for any parent
        self.stopped: str | None = None  # why proposing stopped early (cost, failures)
        self._failed = 0  # in a row
        self._programs = Programs(store)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="proposer")
        self._out: tuple[Future, ProposalContext] | None = None
        # a team's built-in library (`--proposer mixed`) fills gaps on the loop's thread while a
        # model's proposal is out on the proposer's; the team serializes the library's calls
        self._library: Proposer | None = proposer.library if isinstance(proposer, Team) else None

    @property
    def pending(self) -> Future | None:
        """The proposal still out, if any: the loop waits on it beside its experiments."""
        return self._out[0] if self._out else None

    @property
    def ended(self) -> bool:
        """No candidate will come any more: no idea is left, or proposing was stopped."""
        return self.exhausted or self.stopped is not None

    def start(self, nodes: dict[int, Node], deadline: float | None = None) -> None:
        """Choose a parent among `nodes` and ask for a candidate of it, on the proposer's
        thread; or mark proposing exhausted or stopped. `deadline` (time.monotonic()) is when
        the run's time budget ends."""
        chosen = self._choose(self.proposer, nodes)
        if chosen is None:
            self.exhausted = True
            self._event("exhausted", "no proposer has an idea left for any accepted node", None)
            return
        ctx, island = chosen
        # the cost left is read once per proposal, not for every parent the frontier looks at
        cost_left = (None if self.config.max_cost is None
                     else self.config.max_cost - self.store.total_cost())
        ctx = dataclasses.replace(ctx, island=island, cost_left=cost_left, deadline=deadline)
        if ctx.cost_left is not None and ctx.cost_left <= 0:
            self.stopped = (f"cost cap of ${self.config.max_cost:g} reached "
                            f"(${self.store.total_cost():.4f} spent on model calls)")
            self._event("cost", self.stopped, None)
            return
        self._out = (self._thread.submit(self.proposer.propose, ctx), ctx)

    def fill_gap(self, nodes: dict[int, Node]) -> bool:
        """While a model's proposal is out and a worker would sit idle: a candidate from the
        team's built-in library, proposed here and now, for the parent the policy chooses among
        those it has an idea for. False when there is no library or no idea."""
        # a proposal already back is taken first: the library might make the same program
        if self._library is None or self._out is None or self._out[0].done() or self.ended:
            return False
        chosen = self._choose(self._library, nodes)
        if chosen is None:
            return False
        ctx = chosen[0]
        proposal = self._library.propose(ctx)
        if proposal is None:
            return False
        self._add(proposal, ctx, nodes)
        return True

    def _choose(self, proposer: Proposer, nodes: dict[int, Node]
                ) -> tuple[ProposalContext, tuple[int, int] | None] | None:
        """The context of the parent the policy picks among the accepted nodes `proposer` has
        an idea for, with the island it is for; None when it has none."""
        # which programs the tree holds is the same for every parent looked at: read it once
        programs = self._programs.of(nodes.values())
        frontier = [n for n in nodes.values()
                    if n.status is NodeStatus.ACCEPTED
                    and proposer.has_ideas_for(self._context(n, nodes, programs))]
        if not frontier:
            return None
        spec = self.task.spec
        view = SearchView(tuple(nodes.values()), tuple(frontier), spec.metric.name,
                          spec.minimize, spec.seeds.values)
        # under the islands policy the child joins the island whose turn it is: tell the
        # proposers, so that each island keeps its own mix of researchers
        island = ((self.policy.next_island(view), self.policy.islands)
                  if isinstance(self.policy, IslandPolicy) else None)
        parent = self.policy.select_parent(view)
        return self._context(parent, nodes, programs), island

    def take(self, nodes: dict[int, Node]) -> bool:
        """Add the candidate of a proposal that has come back to the store and to `nodes`;
        False while one is still out."""
        if self._out is None:
            return True
        future, ctx = self._out
        if not future.done():
            return False
        self._out = None
        parent = ctx.parent
        try:
            proposal = future.result()
        except ProposalFailed as err:
            self.store.add_calls(None, err.calls)
            self._failed += 1
            self._event("proposal-failed", f"no proposal for node {parent.id}: {err.reason}", None)
            if self._failed >= MAX_FAILED_PROPOSALS:
                self.stopped = (f"proposing failed {self._failed} times in a row; "
                                f"the last: {err.reason}")
            return True
        if proposal is None:
            self.exhausted = True
            return True
        self._failed = 0
        self._add(proposal, ctx, nodes)
        return True

    def _add(self, proposal: Proposal, ctx: ProposalContext, nodes: dict[int, Node]) -> None:
        parent, idea = ctx.parent, proposal.idea
        # the programs of now, not of when the proposal started: a candidate proposed ahead,
        # or beside a library gap-filler, may have been made meanwhile by another
        node = add_candidate(self.store, parent, idea, proposal.patch_text, ctx.parent_files,
                             self.task.spec.program.editable,
                             self._programs.of(nodes.values()), self.corpus, self.task.may_write,
                             proposal.generous, self.task.spec.program.given)
        if proposal.calls:
            self.store.add_calls(node.id, proposal.calls)
        nodes[node.id] = node
        if node.status is not NodeStatus.RUNNING:
            self._event(node.status.value, f"node {node.id} '{idea.title}': {node.reason}",
                        node.id)
            return
        for f in node.findings:
            self._event("finding", f"node {node.id}: {f.check} (warning): {f.message}", node.id)
        self._event("proposed", f"node {node.id} from node {parent.id}: {idea.title} "
                    f"({idea.proposer}: {idea.reason})", node.id)

    def close(self) -> None:
        # a proposal still out (a model call) is left to finish on its own: not waited for
        if self.preflight is not None:
            self.preflight.cancel()  # a trial in progress would outlive the run
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _context(self, parent: Node, nodes: dict[int, Node],
                 programs: dict[str, int]) -> ProposalContext:
        lineage = [parent]
        while lineage[-1].parent_id is not None:
            lineage.append(nodes[lineage[-1].parent_id])
        return ProposalContext(
            task=self.task,
            parent=parent,
            parent_files=self.store.files(parent),
            lineage=tuple(reversed(lineage)),
            nodes=tuple(nodes.values()),
            seed=self.config.seed * 1_000_003 + len(nodes),
            past_discoveries=self.discoveries.past if self.discoveries else (),
            other_discoveries=self.discoveries.other if self.discoveries else (),
            programs=programs,
            trial=self.preflight,
        )
