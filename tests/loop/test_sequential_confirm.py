"""The loop with a sequential confirmation (`seeds.confirm_max`): the value function forecasts a
promising node's test at the cap and leaves alone one the judge has decided; a real run's
confirmed nodes ran at most the cap's fresh pairs, look by look, and say so."""

from __future__ import annotations

import pytest

import recursor
from recursor.judge import Judge, JudgeConfig
from recursor.judge.judge import confirmation_seed
from recursor.loop.stopping import Confirmation, EarlyStopping
from recursor.store import ConfirmVerdict, Idea, NodeStatus, RunStore
from recursor.value import StopSettings

CURVE = [{"step": i, "progress": i / 4, "train_loss": 4.0 - 0.3 * i, "lr": 1e-3}
         for i in range(1, 5)]


def evaluate(store, node, seed, value):
    ev = store.start_evaluation(node.id, seed, "val_bpb")
    store.finish_evaluation(ev.id, ok=True, value=value, metrics={}, reason=None, seconds=1.0,
                            curve=CURVE)


@pytest.fixture
def run(tmp_path):
    store = RunStore.create(tmp_path / "run", {"task": "tiny-lm"})
    judge = Judge("val_bpb", True, [1, 2],
                  JudgeConfig(alpha=0.02, confirm=2, confirm_max=6, spending="pocock"))
    base = store.add_node(None, None, {"train.py": "x = 1\n"})
    for seed, v in ((1, 3.00), (2, 3.01)):
        evaluate(store, base, seed, v)
    store.decide(base.id, NodeStatus.ACCEPTED, "baseline")
    yield store, judge, base
    store.close()


def first_look(store, judge, base, gains):
    """A candidate whose screen and first look's two fresh pairs have ended."""
    node = store.add_node(base.id, Idea("a change"), {"train.py": "x = 2\n"})
    evaluate(store, node, 1, 2.99)
    for seed, gain in zip(judge.confirmation_seeds(node), gains, strict=False):
        evaluate(store, base, seed, 3.0)
        evaluate(store, node, seed, 3.0 - gain)
    return store.node(node.id)


def looks(store, judge, nodes):
    es = EarlyStopping(store, "val_bpb", "train_loss", True, StopSettings(risk=0.02, audit=0.0))
    noise = judge.noise(nodes)
    # the loop's view (recursor.loop.looks): the seeds each node's test will count on
    c = Confirmation(judge.confirmation_bar(noise), noise.sigma, 1,
                     lambda n: judge.forecast_seeds(n, nodes), df=30)
    return es.look([], nodes, c)


def test_a_node_that_passed_at_its_first_look_is_not_second_guessed(run):
    store, judge, base = run
    node = first_look(store, judge, base, (0.2, 0.21))
    nodes = {n.id: n for n in store.nodes()}
    assert judge.next_step(node, nodes[base.id], judge.noise(nodes)).reason == "complete"
    assert looks(store, judge, nodes) == []
    # no look at all: its test is decided, its remaining runs are the task's seeds
    assert [p for p in store.predictions() if p.scope == "confirm"] == []


def test_a_promising_node_is_forecast_against_the_cap(run):
    store, judge, base = run
    node = first_look(store, judge, base, (0.012, 0.006))
    nodes = {n.id: n for n in store.nodes()}
    step = judge.next_step(node, nodes[base.id], judge.noise(nodes))
    assert step.action == "run" and step.reason == "confirm"  # its next look's pairs
    for stop in looks(store, judge, nodes):
        assert stop.between == (2, 6)
    (p,) = [p for p in store.predictions() if p.scope == "confirm"]
    assert p.evaluation_id == next(e.id for e in node.evaluations
                                   if e.seed == confirmation_seed(node.id, 1))


@pytest.mark.slow
def test_a_real_run_confirms_in_looks_up_to_the_cap(tmp_path, small):
    run = recursor.run("tiny-lm", run_dir=tmp_path / "run", experiments=3, workers=2,
                       overrides={**small, "seeds.confirm_max": 4}, seed=1, heldout=False,
                       discoveries=False)
    nodes = {n.id: n for n in run.nodes()}
    tested = [n for n in nodes.values() if isinstance(n.verdict, ConfirmVerdict)]
    assert tested, "no candidate reached its confirmation"
    for n in tested:
        v = n.verdict
        parent = nodes[n.parent_id]
        fresh = [s for s in n.values("val_bpb") if s >= 1_000_000]
        # the pairs of the looks made, each run by candidate and parent, never beyond the cap
        assert sorted(fresh) == list(v.seeds) == [confirmation_seed(n.id, j)
                                                  for j in range(v.looks[-1].pairs)]
        assert set(fresh) <= set(parent.values("val_bpb"))
        assert [lk.pairs for lk in v.looks] == [2, 4][:len(v.looks)]
        assert v.planned_looks == 2 and v.spending == "obrien-fleming"
        assert all(lk.decision == "continue" for lk in v.looks[:-1])
        if n.status is NodeStatus.ACCEPTED:
            assert f"accepted at look {len(v.looks)} of 2" in n.reason
    run.close()
