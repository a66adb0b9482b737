"""The compute budget: seed-run equivalents, counted from the evaluations' recorded seconds."""

import pytest

from recursor.errors import SettingsError
from recursor.loop.budget import Budget, spent_sre
from recursor.settings import RunConfig
from recursor.store.records import EvalStatus, Evaluation, Node, NodeStatus


def evaluation(node_id, seed, seconds, name="m", status=EvalStatus.OK, finished=True):
    return Evaluation(100 * node_id + seed, node_id, seed, name, status, 1.0, {}, None, 0.0,
                      1.0 if finished else None, seconds, "")


def node(node_id, *evals, parent=1):
    return Node(node_id, None if node_id == 1 else parent, NodeStatus.ACCEPTED, None, None,
                None, "", 0, None, None, None, tuple(evals))


def test_compute_is_counted_in_the_baselines_seed_runs():
    base = node(1, evaluation(1, 1, 10.0), evaluation(1, 2, 30.0))  # unit: 20 s
    cand = node(2, evaluation(2, 1, 20.0),
                evaluation(2, 7, 5.0, status=EvalStatus.FAILED),  # a stopped run: its own seconds
                evaluation(2, 8, 15.0, name="heldout"),  # held-out runs are compute too
                evaluation(2, 9, 99.0, finished=False))  # still running: not spent yet
    nodes = {1: base, 2: cand}
    assert spent_sre(nodes, "m") == pytest.approx((10 + 30 + 20 + 5 + 15) / 20)
    budget = Budget(RunConfig(seed_runs=4.5), "m")  # 4 spent
    assert budget.room(nodes, 0.0) and budget.spent(nodes, 0.0) is None
    nodes[3] = node(3, evaluation(3, 1, 10.0))  # 4.5 spent
    assert not budget.room(nodes, 0.0)
    assert budget.spent(nodes, 0.0) == "compute budget of 4.5 seed runs spent"
    # before the baseline has a run there is no unit, and nothing is spent
    assert spent_sre({1: node(1)}, "m") == 0.0


def test_a_compute_budget_alone_is_a_budget():
    assert RunConfig(seed_runs=30).experiments is None  # not the default experiment budget
    with pytest.raises(SettingsError, match="seed_runs must be positive"):
        RunConfig(seed_runs=0)
