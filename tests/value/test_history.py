"""Earlier runs of a task, read through their stores: their finished pairs with curves, another
task's or another budget's runs left out, and a folder that is not a readable run skipped."""

from __future__ import annotations

import pytest

from recursor.store import Idea, NodeStatus, RunStore
from recursor.value.history import earlier_pairs

CURVE = [{"step": i, "progress": i / 4, "train_loss": 4.0 - 0.3 * i} for i in range(1, 5)]
OVERRIDES = {"budget.train_tokens": 1000}


def evaluate(store, node, seed, value, curve=CURVE):
    ev = store.start_evaluation(node.id, seed, "val_bpb")
    store.finish_evaluation(ev.id, ok=True, value=value, metrics={}, reason=None, seconds=1.0,
                            curve=curve)


def earlier_run(folder, task="tiny-lm", overrides=OVERRIDES):
    store = RunStore.create(folder, {"task": task, "config": {"overrides": overrides}})
    base = store.add_node(None, None, {"train.py": "x = 1\n"})
    for seed, v in ((1, 3.00), (2, 3.01)):
        evaluate(store, base, seed, v)
    store.decide(base.id, NodeStatus.ACCEPTED, "baseline")
    node = store.add_node(base.id, Idea("a change"), {"train.py": "x = 2\n"})
    evaluate(store, node, 1, 2.90)
    evaluate(store, node, 2, 2.95, curve=[{"step": 1, "train_loss": 3.0}])  # no progress
    evaluate(store, node, 3, 2.80)  # the parent never ran seed 3
    store.close()


def test_the_pairs_of_earlier_runs_of_the_task_are_read_through_their_stores(tmp_path):
    earlier_run(tmp_path / "a")
    earlier_run(tmp_path / "other-task", task="kernel")
    earlier_run(tmp_path / "other-budget", overrides={"budget.train_tokens": 5})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.db").write_text("not a database")
    (pair,) = earlier_pairs(tmp_path / "now", "tiny-lm", OVERRIDES, "val_bpb", "train_loss")
    assert pair.difference == pytest.approx(2.90 - 3.00)
    assert list(pair.candidate.progress) == [0.25, 0.5, 0.75, 1.0]
    assert pair.candidate.values[-1] == pytest.approx(4.0 - 1.2)
    assert isinstance(pair.group, str)  # the program's hash: the same program in two runs is one
    # the run itself and the excluded ones are not their own history
    assert earlier_pairs(tmp_path / "a", "tiny-lm", OVERRIDES, "val_bpb", "train_loss") == []
