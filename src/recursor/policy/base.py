"""The search-policy contract: which node to extend next.

A policy sees a frozen view of the run and returns one of the `frontier` nodes: accepted nodes
(the baseline included) that the proposers can still extend. Only accepted nodes are parents, and
every accepted node has run all the task's seeds, so their means compare on the same seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from recursor.store.records import Node

if TYPE_CHECKING:
    from recursor.task.spec import SearchSpec


@dataclass(frozen=True)
class Tuning:
    """The research-process settings a policy reads (run settings `exploration` and
    `descendant_credit`, recursor.settings): how much a less-tried parent is preferred, and how
    much a parent's own children's gains count towards extending it again. The defaults are
    the policies' behaviour before these were settings."""

    exploration: float = 1.0
    descendant_credit: float = 0.0


DEFAULT_TUNING = Tuning()


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

    def children_gain(self, node: Node) -> float:
        """The mean gain of the node's decided children over it, as a fraction of the run's
        best improvement over the baseline (0 for a child that was not accepted, or that did
        no better): how productive extending this node has been. 0 with no child yet."""
        children = [n for n in self.nodes if n.parent_id == node.id and n.decided_at is not None]
        baseline = next((n for n in self.nodes if n.is_baseline), None)
        if not children or baseline is None:
            return 0.0
        best = max(self.quality(n) for n in self.nodes
                   if n.is_baseline or n.status == "accepted")
        span = best - self.quality(baseline)
        if span <= 0:
            return 0.0
        own = self.quality(node)
        gains = [max(0.0, self.quality(c) - own) / span if c.status == "accepted" else 0.0
                 for c in children]
        return sum(gains) / len(gains)

    @property
    def candidates(self) -> int:
        return sum(1 for n in self.nodes if not n.is_baseline)


class SearchPolicy(Protocol):
    """What the loop asks of a policy. A policy class subclasses this (explicitly, so that it
    inherits `from_search`) and is listed in `recursor.policy.POLICIES`."""

    name: str

    def select_parent(self, view: SearchView) -> Node:
        """One node of `view.frontier` (never called with an empty frontier)."""
        ...

    @classmethod
    def from_search(cls, search: SearchSpec | None, tuning: Tuning = DEFAULT_TUNING) -> SearchPolicy:
        """The policy set up from the task's `[search]` table (None: the defaults) and the
        run's `tuning`. Only the policies that read them override this; the others take no
        settings."""
        return cls()


@runtime_checkable
class IslandPolicy(SearchPolicy, Protocol):
    """A policy that keeps `islands` sub-populations: the loop asks which island the next
    parent is chosen for (same view, same answer as the `select_parent` that follows) and
    tells the proposers, so that each island keeps its own mix of researchers."""

    islands: int

    def next_island(self, view: SearchView) -> int:
        ...
