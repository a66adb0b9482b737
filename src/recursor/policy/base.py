"""The search-policy contract: which node to extend next.

A policy sees a frozen view of the run and returns one of the `frontier` nodes: accepted nodes
(the baseline included) that the proposers can still extend. Only accepted nodes are parents, and
every accepted node has run all the task's seeds, so their means compare on the same seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from recursor.store.records import Node


@dataclass(frozen=True)
class SearchView:
    nodes: tuple[Node, ...]
    frontier: tuple[Node, ...]
    metric: str
    minimize: bool
    seeds: tuple[int, ...] | None = None  # the task's seeds: means are compared on these

    def quality(self, node: Node) -> float:
        """Mean metric oriented so that larger is better."""
        mean = node.mean(self.metric, self.seeds)
        if mean is None:
            return float("-inf")
        return -mean if self.minimize else mean

    def attempts(self, node: Node) -> int:
        return sum(1 for n in self.nodes if n.parent_id == node.id)

    @property
    def candidates(self) -> int:
        return sum(1 for n in self.nodes if not n.is_baseline)


class SearchPolicy(Protocol):
    name: str

    def select_parent(self, view: SearchView) -> Node:
        """One node of `view.frontier` (never called with an empty frontier)."""
        ...
