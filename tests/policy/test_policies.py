from recursor.policy import BestFirstPolicy, GreedyPolicy, SearchView
from recursor.store.records import EvalStatus, Evaluation, Node, NodeStatus


def node(node_id, mean, parent=None, status=NodeStatus.ACCEPTED):
    evals = () if mean is None else (
        Evaluation(node_id, node_id, 1, "m", EvalStatus.OK, mean, {}, None, 0, 1, 1, ""),)
    return Node(node_id, parent, status, None, None, None, "", 0, None, None, None, evals)


def view(nodes, frontier=None):
    return SearchView(tuple(nodes), tuple(frontier if frontier is not None else
                                          [n for n in nodes if n.status == "accepted"]),
                      "m", minimize=True)


def test_greedy_extends_the_best_node_that_still_has_ideas():
    base, a, b = node(1, 3.0), node(2, 2.8, 1), node(3, 2.9, 1)
    assert GreedyPolicy().select_parent(view([base, a, b])).id == 2
    assert GreedyPolicy().select_parent(view([base, a, b], [base, b])).id == 3


def test_best_first_explores_a_near_best_node_that_was_tried_less():
    base, best, close = node(1, 3.0), node(2, 2.80, 1), node(3, 2.82, 1)
    tried = [node(10 + i, 2.9, 2, NodeStatus.REJECTED) for i in range(6)]
    nodes = [base, best, close, *tried]
    assert GreedyPolicy().select_parent(view(nodes)).id == 2
    assert BestFirstPolicy().select_parent(view(nodes)).id == 3


def test_best_first_prefers_quality_when_attempts_are_equal():
    base, best, worse = node(1, 3.0), node(2, 2.5, 1), node(3, 2.95, 1)
    assert BestFirstPolicy().select_parent(view([base, best, worse])).id == 2


def test_descendant_credit_extends_a_parent_whose_children_keep_winning():
    # two parents of equal quality, each tried three times: one's children won, the other's lost
    base, a, b = node(1, 3.0), node(2, 2.8, 1), node(3, 2.8, 1)
    wins = [node(10 + i, 2.6, 2) for i in range(3)]  # accepted children of a
    losses = [node(20 + i, 2.9, 3, NodeStatus.REJECTED) for i in range(3)]
    nodes = [base, a, b, *wins, *losses]
    frontier = [base, a, b]  # a's children are not extendable here: only the parents compete
    decided = [n if n.id < 10 else _decided(n) for n in nodes]
    assert BestFirstPolicy().select_parent(view(decided, frontier)).id == 3  # tie: newest id
    assert BestFirstPolicy(descendant_credit=1.0).select_parent(view(decided, frontier)).id == 2
    # the same children, undecided: no evidence yet, so no credit
    assert BestFirstPolicy(descendant_credit=1.0).select_parent(view(nodes, frontier)).id == 3


def test_exploration_zero_is_greedy_among_the_frontier():
    base, best, close = node(1, 3.0), node(2, 2.80, 1), node(3, 2.82, 1)
    tried = [node(10 + i, 2.9, 2, NodeStatus.REJECTED) for i in range(6)]
    assert BestFirstPolicy(exploration=0.0).select_parent(view([base, best, close, *tried])).id == 2


def _decided(n):
    import dataclasses

    return dataclasses.replace(n, decided_at=1.0)
