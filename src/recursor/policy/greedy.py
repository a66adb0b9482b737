"""Greedy: always extend the current best node (autoresearch's policy, kept as the baseline)."""

from __future__ import annotations

from recursor.policy.base import SearchPolicy, SearchView
from recursor.store.records import Node


class GreedyPolicy(SearchPolicy):
    name = "greedy"

    def select_parent(self, view: SearchView) -> Node:
        # the best node that can still be extended; ties go to the newest (the latest step)
        return max(view.frontier, key=lambda n: (view.quality(n), n.id))
