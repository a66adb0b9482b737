import dataclasses
from collections import Counter

import pytest

from recursor.loop.config import RunConfig
from recursor.policy import POLICIES, BestFirstPolicy, GreedyPolicy, MapElitesPolicy, SearchView
from recursor.store.records import EvalStatus, Evaluation, Idea, Node, NodeStatus


def node(node_id, mean, parent=None, category="other", status=NodeStatus.ACCEPTED, proposer="library"):
    evals = () if mean is None else (
        Evaluation(node_id, node_id, 1, "m", EvalStatus.OK, mean, {}, None, 0, 1, 1, ""),)
    idea = None if parent is None else Idea(f"idea {node_id}", category=category, proposer=proposer)
    return Node(node_id, parent, status, idea, None, None, "", node_id, node_id, None, None, evals)


def view(nodes, frontier=None):
    return SearchView(tuple(nodes), tuple(frontier if frontier is not None else
                                          [n for n in nodes if n.status == "accepted"]),
                      "m", minimize=True)


def tried(parent, first_id, count):
    return [node(first_id + i, None, parent, "hyperparameter", NodeStatus.REJECTED) for i in range(count)]


def test_registered_and_accepted_by_the_run_config():
    assert POLICIES["map-elites"] is MapElitesPolicy
    assert RunConfig(policy="map-elites").policy == "map-elites"


def test_extends_another_cell_rather_than_a_twin_of_the_best():
    base = node(1, 3.0)
    best = node(2, 2.50, 1, "architecture")
    twin = node(3, 2.52, 1, "architecture")  # near-best, same kind of change, never extended
    other = node(4, 2.90, 1, "optimizer")  # a smaller gain of another kind
    nodes = [base, best, twin, other, *tried(2, 10, 4)]
    assert BestFirstPolicy().select_parent(view(nodes)) == twin  # per node, the twin is fresh
    # per cell, architecture has been extended 4 times already: the optimizer line gets its turn
    assert MapElitesPolicy().select_parent(view(nodes)) == other


def test_a_run_spreads_over_the_cells_instead_of_hammering_one_node():
    base = node(1, 3.0)
    lines = [node(2, 2.5, 1, "architecture"), node(3, 2.7, 1, "optimizer"), node(4, 2.8, 1, "schedule")]
    picks = {}
    for policy in (GreedyPolicy(), MapElitesPolicy()):
        nodes = [base, *lines]
        for i in range(9):
            parent = policy.select_parent(view(nodes))
            nodes.append(node(100 + i, None, parent.id, "hyperparameter", NodeStatus.REJECTED))
        picks[policy.name] = Counter(n.parent_id for n in nodes[4:])
    assert picks["greedy"] == {2: 9}
    spread = picks["map-elites"]
    # every line is extended, the best one most (quality still counts)
    assert min(spread[2], spread[3], spread[4]) >= 2 and spread.most_common(1)[0][0] == 2


def test_an_elite_is_replaced_only_by_a_better_accepted_node_of_its_cell():
    policy = MapElitesPolicy()
    base, arch = node(1, 3.0), node(2, 2.6, 1, "architecture")
    nodes = [base, arch, node(3, 2.9, 1, "optimizer")]
    assert policy.archive(view(nodes)) == {("baseline", 0): base, ("architecture", 1): arch,
                                           ("optimizer", 1): nodes[2]}
    nodes += [node(4, 2.4, 1, "architecture", NodeStatus.REJECTED),  # better, but not accepted
              node(5, 2.6, 1, "architecture")]  # a tie: the older elite stays
    assert policy.archive(view(nodes))[("architecture", 1)] == arch
    better = node(6, 2.3, 1, "architecture")
    nodes.append(better)
    assert policy.archive(view(nodes))[("architecture", 1)] == better
    assert policy.select_parent(view(nodes, [base, better])) in (base, better)
    # a deeper node of the same kind is another cell: it does not displace its parent
    deeper = node(7, 2.2, 6, "architecture")
    assert policy.archive(view([*nodes, deeper]))[("architecture", 2)] == deeper
    assert policy.archive(view([*nodes, deeper]))[("architecture", 1)] == better


def test_an_exhausted_elite_lets_its_cell_stand_on_the_next_best():
    base, elite, runner_up = node(1, 3.0), node(2, 2.5, 1, "architecture"), node(3, 2.6, 1, "architecture")
    nodes = [base, elite, runner_up]
    assert MapElitesPolicy().select_parent(view(nodes, [base, runner_up])) == runner_up


def test_descriptors():
    base = node(1, 3.0)
    lib = node(2, 2.9, 1, "optimizer")
    llm = node(3, 2.8, 2, "schedule", proposer="llm:qwen2.5:7b:contrarian")
    deep = [llm]
    for i in range(3):
        deep.append(node(4 + i, 2.7 - i / 10, deep[-1].id, "schedule", proposer="llm:gpt-4o:optimizer"))
    v = view([base, lib, *deep])
    both = MapElitesPolicy(descriptors=("proposer", "depth"))
    assert both.cell(base, v) == ("baseline", 0)
    assert both.cell(lib, v) == ("library", 1)
    assert both.cell(llm, v) == ("llm:contrarian", 2)  # a ':' in the model name is not the persona
    assert [both.cell(n, v)[1] for n in deep] == [2, 3, 3, 3]  # 3 stands for 3 or more
    assert MapElitesPolicy(descriptors=("category",)).cell(deep[-1], v) == ("schedule",)
    with pytest.raises(ValueError, match="unknown descriptors"):
        MapElitesPolicy(descriptors=("colour",))


def test_only_the_baseline_and_determinism():
    base = node(1, 3.0)
    assert MapElitesPolicy().select_parent(view([base])) == base
    failed = [node(2, None, 1, "architecture", NodeStatus.FAILED),
              node(3, None, 1, "other", NodeStatus.REJECTED)]
    assert MapElitesPolicy().select_parent(view([base, *failed])) == base
    nodes = [base, node(2, 2.5, 1, "architecture"), node(3, 2.7, 1, "optimizer"), *tried(2, 10, 3)]
    v = view(nodes)
    shuffled = dataclasses.replace(v, nodes=tuple(reversed(v.nodes)), frontier=tuple(reversed(v.frontier)))
    assert MapElitesPolicy().select_parent(shuffled) == MapElitesPolicy().select_parent(v)
