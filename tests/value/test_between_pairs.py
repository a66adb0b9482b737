"""The futility look between confirmation pairs, on a real run database: a near-null whose first
fresh pair ended level is given up before its second pair starts; a node whose first pair clears
the bar is not; each ended pair is looked at once."""

from __future__ import annotations

import pytest

from recursor.judge import Judge, JudgeConfig
from recursor.judge.stats import Pooled
from recursor.loop.stopping import Confirmation, EarlyStopping
from recursor.store import Idea, NodeStatus, RunStore
from recursor.value import StopSettings

SIGMA = 0.02
CURVE = [{"step": i, "progress": i / 4, "train_loss": 4.0 - 0.3 * i} for i in range(1, 5)]


def evaluate(store, node, seed, value):
    ev = store.start_evaluation(node.id, seed, "val_bpb")
    store.finish_evaluation(ev.id, ok=True, value=value, metrics={}, reason=None, seconds=1.0,
                            curve=CURVE)


@pytest.fixture
def run(tmp_path):
    store = RunStore.create(tmp_path / "run", {"task": "tiny-lm"})
    judge = Judge("val_bpb", True, [1, 2], JudgeConfig(alpha=0.02, min_effect=0.0, confirm=2))
    base = store.add_node(None, None, {"train.py": "x = 1\n"})
    for seed, v in ((1, 3.00), (2, 3.01)):
        evaluate(store, base, seed, v)
    store.decide(base.id, NodeStatus.ACCEPTED, "baseline")
    yield store, judge, base
    store.close()


def candidate(store, judge, base, screen: float, first_pair: float):
    """A candidate `screen` better than its parent on the screen seed, whose first fresh pair
    ended `first_pair` better, the second not started (the parent ran the first only)."""
    node = store.add_node(base.id, Idea("a change"), {"train.py": "x = 2\n"})
    evaluate(store, node, 1, 3.00 - screen)
    fresh = judge.confirmation_seeds(store.node(node.id))
    evaluate(store, base, fresh[0], 3.0)
    evaluate(store, node, fresh[0], 3.0 - first_pair)
    return store.node(node.id)


NOISE = Pooled(SIGMA**2, 30)


def look(store, judge, noise=NOISE):
    es = EarlyStopping(store, "val_bpb", "train_loss", True, StopSettings(risk=0.02, audit=0.0))
    c = Confirmation(judge.confirmation_bar(noise), noise.sigma, 1, judge.confirmation_seeds,
                     noise.df)
    return es, c


def test_a_near_null_is_given_up_after_its_first_pair(run):
    store, judge, base = run
    node = candidate(store, judge, base, screen=0.004, first_pair=-0.002)
    es, c = look(store, judge)
    nodes = {n.id: n for n in store.nodes()}
    (stop,) = es.look([], nodes, c)  # nothing in flight: the look between pairs
    assert stop.node_id == node.id and stop.scope == "confirm" and stop.between == (1, 2)
    assert stop.p < 0.02 and stop.progress == 1.0
    reason = stop.reason("val_bpb", True, base.id)
    assert "after 1 of its 2 confirmation pairs" in reason and "P(pass)" in reason
    assert stop.verdict(base.id)["pairs_ended"] == [1, 2]
    (p,) = [p for p in store.predictions() if p.scope == "confirm"]
    assert p.decision == "stop" and p.p_better == pytest.approx(stop.p)
    # the same ended pair is not looked at twice
    assert es.look([], nodes, c) == []


def test_a_first_pair_beyond_the_bar_goes_on(run):
    store, judge, base = run
    candidate(store, judge, base, screen=0.02, first_pair=0.06)
    es, c = look(store, judge)
    assert es.look([], {n.id: n for n in store.nodes()}, c) == []
    (p,) = store.predictions()
    assert p.scope == "confirm" and p.decision == "continue" and p.p_better > 0.5


def test_a_screen_beyond_the_bar_then_a_level_pair_runs_on_for_the_auditor(run):
    # a large screen win that the fresh seeds do not repeat is what a seed-specific cheat looks
    # like: the auditor's seed-consistency check needs every fresh pair to name it
    store, judge, base = run
    candidate(store, judge, base, screen=0.2, first_pair=-0.05)
    es, c = look(store, judge)
    assert c.bar < 0.2
    assert es.look([], {n.id: n for n in store.nodes()}, c) == []
    assert store.predictions() == []
