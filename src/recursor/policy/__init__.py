"""Search policies: which node to extend next."""

from recursor.policy.base import SearchPolicy, SearchView
from recursor.policy.best_first import BestFirstPolicy
from recursor.policy.greedy import GreedyPolicy
from recursor.policy.islands import IslandsPolicy
from recursor.policy.map_elites import MapElitesPolicy

POLICIES = {"greedy": GreedyPolicy, "best-first": BestFirstPolicy, "islands": IslandsPolicy,
            "map-elites": MapElitesPolicy}



def make_policy(name: str, search: object | None = None) -> SearchPolicy:
    """The policy `name`, set up from the task's `[search]` table (a `SearchSpec`) if given."""
    if name == "islands" and search is not None:
        return IslandsPolicy(islands=search.islands, migration_interval=search.migration_interval)
    if name == "map-elites" and search is not None:
        return MapElitesPolicy(descriptors=search.descriptors)
    return POLICIES[name]()


__all__ = ["POLICIES", "make_policy", "BestFirstPolicy", "GreedyPolicy", "IslandsPolicy", "MapElitesPolicy",
           "SearchPolicy", "SearchView"]
