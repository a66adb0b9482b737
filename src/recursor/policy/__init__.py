"""Search policies: which node to extend next."""

from recursor.policy.base import SearchPolicy, SearchView
from recursor.policy.best_first import BestFirstPolicy
from recursor.policy.greedy import GreedyPolicy
from recursor.policy.islands import IslandsPolicy
from recursor.policy.map_elites import MapElitesPolicy

POLICIES = {"greedy": GreedyPolicy, "best-first": BestFirstPolicy, "islands": IslandsPolicy,
            "map-elites": MapElitesPolicy}

__all__ = ["POLICIES", "BestFirstPolicy", "GreedyPolicy", "IslandsPolicy", "MapElitesPolicy",
           "SearchPolicy", "SearchView"]
