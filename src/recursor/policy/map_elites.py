"""MAP-Elites: keep the best node of each kind of change, and extend the kinds in turn.

From Mouret & Clune, "Illuminating search spaces by mapping elites" (2015), as used by
OpenEvolve: nodes are placed in cells by descriptors (what kind of change, how deep), each cell
keeps its best accepted node (the elite), and the parent is chosen among the elites, so the
search spreads over cells instead of piling onto the single best node.

Descriptors (functions of a node and the tree):
- "category": idea.category ("architecture", "optimizer", ...); the baseline is "baseline";
- "proposer": idea.proposer's kind plus its persona ("library", "llm:optimizer"), the model
  dropped so that two models playing the same persona share a cell;
- "depth": steps from the baseline, bucketed 0, 1, 2, 3 (3 meaning 3 or more), so deep
  lineages do not each open a cell of their own.
The default ("category", "depth") separates kinds of change and keeps room for going deeper in
each; a task may declare others through the constructor.

Choice: each cell's best extendable node (its elite, or the next best if the elite has no idea
left) is scored like best-first, q + c * sqrt(2 ln(1 + N) / (1 + n)), but n counts the
proposals made from any node of the cell: a cell extended often yields to one extended less.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING

from recursor.policy.base import DEFAULT_TUNING, SearchPolicy, SearchView, Tuning
from recursor.store.records import Node, NodeStatus

if TYPE_CHECKING:
    from recursor.task.spec import SearchSpec

Tree = Mapping[int, Node]


def depth(node: Node, tree: Tree) -> int:
    """Steps from the baseline (0 for the baseline); stops at a parent missing from the tree."""
    steps, seen = 0, set()
    while node.parent_id is not None and node.id not in seen:
        seen.add(node.id)
        steps += 1
        if node.parent_id not in tree:
            break
        node = tree[node.parent_id]
    return steps


def _category(node: Node, tree: Tree) -> Hashable:
    if node.is_baseline:
        return "baseline"
    return node.idea.category if node.idea else "other"


def _proposer(node: Node, tree: Tree) -> Hashable:
    if node.is_baseline:
        return "baseline"
    name = node.idea.proposer if node.idea else ""
    kind, _, rest = name.partition(":")
    # "llm:<model>:<persona>": model names may hold ':' themselves (qwen2.5:7b), so the persona
    # is the last field
    persona = rest.rpartition(":")[2] if ":" in rest else ""
    return f"{kind}:{persona}" if persona else (kind or "unknown")


def _depth(node: Node, tree: Tree) -> Hashable:
    return min(depth(node, tree), 3)


DESCRIPTORS: dict[str, Callable[[Node, Tree], Hashable]] = {
    "category": _category, "proposer": _proposer, "depth": _depth}


class MapElitesPolicy(SearchPolicy):
    name = "map-elites"

    def __init__(self, descriptors: Sequence[str] = ("category", "depth"), exploration: float = 1.0):
        unknown = [d for d in descriptors if d not in DESCRIPTORS]
        if unknown or not descriptors:
            raise ValueError(f"unknown descriptors {unknown}; choose from {', '.join(DESCRIPTORS)}")
        self.descriptors = tuple(descriptors)
        self.exploration = exploration

    @classmethod
    def from_search(cls, search: SearchSpec | None, tuning: Tuning = DEFAULT_TUNING) -> MapElitesPolicy:
        if search is None:
            return cls(exploration=tuning.exploration)
        return cls(descriptors=search.descriptors, exploration=tuning.exploration)

    def cell(self, node: Node, view: SearchView) -> tuple:
        """The node's cell: its descriptors, in the order given to the constructor."""
        return self._cell(node, {n.id: n for n in view.nodes})

    def archive(self, view: SearchView) -> dict[tuple, Node]:
        """Cell -> elite: the best accepted node of each cell (the baseline included)."""
        tree = {n.id: n for n in view.nodes}
        return self._elites([n for n in view.nodes if n.status is NodeStatus.ACCEPTED], tree, view)

    def select_parent(self, view: SearchView) -> Node:
        tree = {n.id: n for n in view.nodes}
        # the elites among the nodes that can still be extended: an exhausted elite lets the
        # next best node of its cell stand in, so the cell is not dropped from the search
        elites = self._elites(list(view.frontier), tree, view)
        extended = Counter(self._cell(tree[n.parent_id], tree) for n in view.nodes
                           if n.parent_id is not None and n.parent_id in tree)
        baseline = next(n for n in view.nodes if n.is_baseline)
        base_q = view.quality(baseline)
        best_q = max(view.quality(n) for n in view.nodes
                     if n.is_baseline or n.status is NodeStatus.ACCEPTED)
        span = best_q - base_q

        def score(item: tuple[tuple, Node]) -> tuple[float, int]:
            cell, node = item
            q = (view.quality(node) - base_q) / span if span > 0 else 0.0
            bonus = math.sqrt(2 * math.log(1 + view.candidates) / (1 + extended[cell]))
            return (q + self.exploration * bonus, node.id)

        return max(elites.items(), key=score)[1]

    def _cell(self, node: Node, tree: Tree) -> tuple:
        return tuple(DESCRIPTORS[d](node, tree) for d in self.descriptors)

    def _elites(self, nodes: Sequence[Node], tree: Tree, view: SearchView) -> dict[tuple, Node]:
        elites: dict[tuple, Node] = {}
        # in creation order, and only a strictly better node replaces an elite: on a tie the
        # older node, which the search has already built on, keeps its cell
        for node in sorted(nodes, key=lambda n: n.id):
            cell = self._cell(node, tree)
            if cell not in elites or view.quality(node) > view.quality(elites[cell]):
                elites[cell] = node
        return elites
