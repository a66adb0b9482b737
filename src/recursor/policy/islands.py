"""Islands: K sub-populations that evolve apart and exchange their best node now and then.

From FunSearch (Romera-Paredes et al., "Mathematical discoveries from program search with large
language models", Nature 2023) and OpenEvolve: one population converges on its first good idea;
several populations that rarely meet keep several lines of research alive, and a periodic
migration lets a line that found something good seed a neighbour.

Membership is a pure function of the tree, so a resumed run (the policy is re-created) sees the
same islands. Nodes are replayed in creation (id) order:
- the island whose turn it is has made the fewest proposals (ties: lowest index); at the start
  every island proposes from the baseline, so the baseline's first K children go round-robin;
- a child of the baseline, or of a migrant into the island whose turn it was, joins that island;
  every other child joins its parent's island.
This is exactly the island that selected the parent, because `select_parent` is deterministic
and the nodes created before a child are the view the loop showed the policy for it.

Selection: the island whose turn it is picks best-first (BestFirstPolicy's score) among its own
extendable accepted nodes, its migrants, and the baseline while it has no accepted node of its
own (or nothing else left: an exhausted island restarts from the baseline, FunSearch's reset
without the reseeding). If none of these can be extended, the whole frontier is used and the
child stays in its parent's island.

Migration: each time the run reaches a multiple of M proposals, the best node of island i that
was accepted by then (its `decided_at`; never later, so the past does not change) becomes
selectable by island (i + 1) mod K as well. Migrants accumulate, as OpenEvolve's copies do.

Defaults. FunSearch keeps 10 islands and resets the weaker half every 4 hours, over millions of
samples; OpenEvolve defaults to 5 islands and copies its top 10% to both ring neighbours every
50 generations. A recursor run has tens of experiments of minutes each: with 10 islands each
would get two or three proposals and never go past one step from the baseline. K = 3 gives each
island a third of the budget (about 10 experiments of a 30-experiment run: a lineage 2 to 3
deep). M = 8 gives each island 2 to 3 proposals of its own line per epoch before its neighbour's
best arrives, and a 30-experiment run about 3 migrations. One direction only: with 3 islands,
both neighbours would mean every island receives every other's best at each epoch, and the
islands would merge into one population.

Personas per island: the loop may call `next_island(view)` before `select_parent(view)` (same
view, same answer) and give the proposer that island's persona mix; the child then belongs to
that island (except in the whole-frontier fallback). `island_of(node_id, view)` is the island of
any node, -1 for the baseline, which belongs to every island.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recursor.policy.base import DEFAULT_TUNING, IslandPolicy, SearchView, Tuning
from recursor.policy.best_first import BestFirstPolicy
from recursor.store.records import Node, NodeStatus

if TYPE_CHECKING:
    from recursor.task.spec import SearchSpec

BASELINE = -1  # the island of the baseline: it belongs to all of them


@dataclass(frozen=True)
class _Layout:
    island: dict[int, int]  # node id -> island (BASELINE for the baseline)
    migrants: tuple[frozenset[int], ...]  # per island: ids of the nodes migrated into it
    turn: int  # the island that proposes next


def _accepted_by(node: Node, t: float) -> bool:
    """Was the node accepted at time t? A record without decided_at counts as accepted then."""
    return node.status is NodeStatus.ACCEPTED and (node.decided_at is None or node.decided_at <= t)


class IslandsPolicy(IslandPolicy):
    name = "islands"

    def __init__(self, islands: int = 3, migration_interval: int = 8, exploration: float = 1.0,
                 descendant_credit: float = 0.0):
        if islands < 1 or migration_interval < 1:
            raise ValueError("islands and migration_interval must be at least 1")
        self.islands = islands
        self.migration_interval = migration_interval
        self.exploration = exploration
        self.descendant_credit = descendant_credit

    @classmethod
    def from_search(cls, search: SearchSpec | None, tuning: Tuning = DEFAULT_TUNING) -> IslandsPolicy:
        if search is None:
            return cls(exploration=tuning.exploration, descendant_credit=tuning.descendant_credit)
        return cls(islands=search.islands, migration_interval=search.migration_interval,
                   exploration=tuning.exploration, descendant_credit=tuning.descendant_credit)

    def island_of(self, node_id: int, view: SearchView) -> int:
        """The island of a node of the view; -1 for the baseline (it is in every island)."""
        island = self._layout(view).island
        if node_id not in island:
            raise KeyError(f"node {node_id} is not in the view")
        return island[node_id]

    def next_island(self, view: SearchView) -> int:
        """The island the next `select_parent(view)` chooses for, and its child will join."""
        return self._layout(view).turn

    def select_parent(self, view: SearchView) -> Node:
        layout = self._layout(view)
        pool = self._pool(layout, layout.turn, view)
        # the island's own best-first; the bonus still counts the run's proposals, so a node tried
        # often by its island yields to a less-tried one as it would under best-first
        scoped = dataclasses.replace(view, frontier=tuple(pool or view.frontier))
        return BestFirstPolicy(self.exploration, self.descendant_credit).select_parent(scoped)

    def _pool(self, layout: _Layout, island: int, view: SearchView) -> list[Node]:
        own = [n for n in view.frontier if layout.island.get(n.id) == island]
        pool = own + [n for n in view.frontier
                      if n.id in layout.migrants[island] and layout.island.get(n.id) != island]
        has_accepted = any(n.status is NodeStatus.ACCEPTED and not n.is_baseline
                           and layout.island.get(n.id) == island for n in view.nodes)
        baseline = next((n for n in view.frontier if n.is_baseline), None)
        if baseline is not None and (not has_accepted or not pool):
            pool.append(baseline)
        return pool

    def _layout(self, view: SearchView) -> _Layout:
        k = self.islands
        island: dict[int, int] = {}
        counts = [0] * k
        migrants: list[set[int]] = [set() for _ in range(k)]
        members: list[list[Node]] = [[] for _ in range(k)]
        proposals = 0
        for node in sorted(view.nodes, key=lambda n: n.id):
            if node.is_baseline:
                island[node.id] = BASELINE
                continue
            turn = counts.index(min(counts))
            parent_island = island.get(node.parent_id, BASELINE)  # a missing parent: as the baseline
            # the island that chose the baseline, or a migrant, for this child keeps the child
            chosen_by_turn = parent_island == BASELINE or node.parent_id in migrants[turn]
            home = turn if chosen_by_turn else parent_island
            island[node.id] = home
            members[home].append(node)
            counts[home] += 1
            proposals += 1
            if proposals % self.migration_interval == 0 and k > 1:
                self._migrate(members, migrants, node.created_at, view)
        return _Layout(island, tuple(frozenset(m) for m in migrants), counts.index(min(counts)))

    @staticmethod
    def _migrate(members: list[list[Node]], migrants: list[set[int]], t: float,
                 view: SearchView) -> None:
        # snapshot at the moment of the epoch's proposal: only nodes accepted by then, so a node
        # decided later cannot rewrite which node migrated (and so which island its children are)
        for i, nodes in enumerate(members):
            accepted = [n for n in nodes if _accepted_by(n, t)]
            if accepted:
                best = max(accepted, key=lambda n: (view.quality(n), -n.id))
                migrants[(i + 1) % len(members)].add(best.id)
