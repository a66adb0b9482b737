import math

import pytest

from recursor.report.diversity import diversity
from recursor.store.records import Idea, Node, NodeStatus

A, R, F = NodeStatus.ACCEPTED, NodeStatus.REJECTED, NodeStatus.FAILED


def node(node_id, parent=None, category="other", status=A, proposer="library"):
    idea = None if parent is None else Idea(f"idea {node_id}", category=category, proposer=proposer)
    return Node(node_id, parent, status, idea, None, None, "", node_id, node_id, None, None)


def tree():
    return [
        node(1),
        node(2, 1, "architecture"),
        node(3, 1, "optimizer", R, "llm:gpt:optimizer"),
        node(4, 2, "optimizer", A, "llm:gpt:optimizer"),
        node(5, 4, "schedule"),  # three steps down the first branch
        node(6, 1, "schedule", F),
        node(7, 1, "regularization", R),
        node(8, 1, "architecture", A, "llm:gpt:architecture"),  # a second branch
        node(9, 1, "hyperparameter", NodeStatus.RUNNING),  # proposed, so tried
    ]


def test_diversity_of_a_small_tree():
    d = diversity(tree())
    assert d["categories_tried"] == ["architecture", "hyperparameter", "optimizer", "regularization",
                                     "schedule"]
    assert d["categories_accepted"] == ["architecture", "optimizer", "schedule"]
    assert d["categories"] == {
        "architecture": {"tried": 2, "accepted": 2},
        "hyperparameter": {"tried": 1, "accepted": 0},
        "optimizer": {"tried": 2, "accepted": 1},
        "regularization": {"tried": 1, "accepted": 0},
        "schedule": {"tried": 2, "accepted": 1},
    }
    assert d["proposers"] == {
        "library": {"tried": 5, "accepted": 2},
        "llm:gpt:architecture": {"tried": 1, "accepted": 1},
        "llm:gpt:optimizer": {"tried": 2, "accepted": 1},
    }
    assert d["branches"] == 2  # nodes 2 and 8; 3, 6, 7 and 9 led nowhere (yet)
    assert d["max_accepted_depth"] == 3
    counts = [2, 1, 2, 1, 2]
    expected = -sum(c / 8 * math.log2(c / 8) for c in counts)
    assert d["category_entropy_bits"] == pytest.approx(expected)


def test_entropy_is_zero_for_one_kind_and_log2_k_for_k_kinds_tried_equally():
    one = [node(1), *(node(i, 1, "hyperparameter", R) for i in range(2, 6))]
    assert diversity(one)["category_entropy_bits"] == 0.0
    four = [node(1), *(node(i, 1, c, R) for i, c in enumerate(("a", "b", "c", "d"), start=2))]
    assert diversity(four)["category_entropy_bits"] == pytest.approx(2.0)


def test_a_run_with_only_the_baseline():
    d = diversity([node(1)])
    assert d == {"categories_tried": [], "categories_accepted": [], "categories": {}, "proposers": {},
                 "branches": 0, "max_accepted_depth": 0, "category_entropy_bits": 0.0}
    assert diversity([]) == d
