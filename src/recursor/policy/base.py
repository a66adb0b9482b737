"""The search-policy contract: which node to extend next.

A policy sees a frozen view of the run and returns one of the `frontier` nodes: accepted nodes
(the baseline included) that the proposers can still extend. Only accepted nodes are parents, so
every parent has run every seed and pairs with its children on all of them.
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

    def quality(self, node: Node) -> float:
        """Mean metric oriented so that larger is better."""
        mean = node.mean(self.metric)
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
