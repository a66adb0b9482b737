"""How widely a run searched: which kinds of idea it tried and kept, from whom, on how many lines.

A run that only ever tuned the learning rate can still improve its metric; these numbers show
whether the search looked elsewhere. "Tried" counts every candidate (whatever became of it),
"accepted" the candidates that were accepted. Pure function of the nodes: the report calls it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from recursor.store.records import Node, NodeStatus


def _counts(tried: Counter[str], accepted: Counter[str]) -> dict[str, dict[str, int]]:
    return {k: {"tried": tried[k], "accepted": accepted[k]} for k in sorted(tried)}


def entropy_bits(counts: Counter[str]) -> float:
    """Shannon entropy of a distribution given by counts, in bits (0 for none or one kind)."""
    total = sum(counts.values())
    h = -sum(c / total * math.log2(c / total) for c in counts.values() if c > 0) if total else 0.0
    return h + 0.0  # turns -0.0 into 0.0


def diversity(nodes: Sequence[Node]) -> dict[str, Any]:
    """The run's diversity numbers.

    Keys: categories_tried / categories_accepted (sorted distinct idea.category), categories and
    proposers ({name: {"tried", "accepted"}}), branches (children of the baseline that are
    accepted or have an accepted descendant: the independent lines that led somewhere),
    max_accepted_depth (steps from the baseline of the deepest accepted candidate, 0 if none),
    category_entropy_bits (of the categories of the tried ideas: 0 when every idea is of one
    kind, log2(k) when k kinds were tried equally).
    """
    by_id = {n.id: n for n in nodes}
    candidates = [n for n in nodes if not n.is_baseline]
    accepted = [n for n in candidates if n.status is NodeStatus.ACCEPTED]

    def category(n: Node) -> str:
        return n.idea.category if n.idea else "other"

    def proposer(n: Node) -> str:
        return n.idea.proposer if n.idea else ""

    def lineage(n: Node) -> list[Node]:
        """The node and its ancestors up to (not including) the baseline, nearest first."""
        line, seen = [], set()
        while n.parent_id is not None and n.id not in seen:
            seen.add(n.id)
            line.append(n)
            if n.parent_id not in by_id:
                break
            n = by_id[n.parent_id]
        return line

    cat_tried, cat_accepted = Counter(map(category, candidates)), Counter(map(category, accepted))
    prop_tried, prop_accepted = Counter(map(proposer, candidates)), Counter(map(proposer, accepted))
    # a branch is named by its first step from the baseline: the last node of each lineage
    branches = {line[-1].id for line in map(lineage, accepted)
                if by_id.get(line[-1].parent_id) is not None and by_id[line[-1].parent_id].is_baseline}
    return {
        "categories_tried": sorted(cat_tried),
        "categories_accepted": sorted(cat_accepted),
        "categories": _counts(cat_tried, cat_accepted),
        "proposers": _counts(prop_tried, prop_accepted),
        "branches": len(branches),
        "max_accepted_depth": max((len(lineage(n)) for n in accepted), default=0),
        "category_entropy_bits": entropy_bits(cat_tried),
    }
