"""Search policies: which node to extend next."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recursor.policy.base import DEFAULT_TUNING, IslandPolicy, SearchPolicy, SearchView, Tuning
from recursor.policy.best_first import BestFirstPolicy
from recursor.policy.greedy import GreedyPolicy
from recursor.policy.islands import IslandsPolicy
from recursor.policy.map_elites import MapElitesPolicy

if TYPE_CHECKING:
    from recursor.task.spec import SearchSpec

# name (the `policy` setting) -> policy class; a new policy is one class and one line here
POLICIES: dict[str, type[SearchPolicy]] = {
    "greedy": GreedyPolicy, "best-first": BestFirstPolicy, "islands": IslandsPolicy,
    "map-elites": MapElitesPolicy}


def make_policy(name: str, search: SearchSpec | None = None,
                tuning: Tuning = DEFAULT_TUNING) -> SearchPolicy:
    """The policy `name`, set up from the task's `[search]` table (a `SearchSpec`) if given and
    the run's `tuning` (its exploration and descendant-credit settings)."""
    return POLICIES[name].from_search(search, tuning)


__all__ = ["POLICIES", "make_policy", "BestFirstPolicy", "GreedyPolicy", "IslandPolicy",
           "IslandsPolicy", "MapElitesPolicy", "SearchPolicy", "SearchView", "Tuning"]
