"""Search policies: which node to extend next."""

from recursor.policy.base import SearchPolicy, SearchView
from recursor.policy.best_first import BestFirstPolicy
from recursor.policy.greedy import GreedyPolicy

POLICIES = {"greedy": GreedyPolicy, "best-first": BestFirstPolicy}

__all__ = ["POLICIES", "BestFirstPolicy", "GreedyPolicy", "SearchPolicy", "SearchView"]
