"""Verdicts stored as JSON by earlier recursors read back as typed values, and write back the
same JSON: an old run database opens and reports as it did."""

import json
import sqlite3
from dataclasses import replace

import pytest

from recursor.store import (
    BaselineVerdict,
    ConfirmVerdict,
    Idea,
    NodeStatus,
    ParentFailedVerdict,
    RunStore,
    ScreenVerdict,
    StoppedEarlyVerdict,
    verdict_from_json,
)
from recursor.store.sqlite import DB_NAME

# each kind as the judge (recursor.judge.judge) and the value function's stops
# (recursor.loop.stopping.Stop.verdict) wrote it before verdicts were typed: same keys, same order
BASELINE = {"stage": "baseline", "mean": 3.0025, "std": 0.01708, "n": 4}
BASELINE_NOISE = {**BASELINE, "noise_std": 0.0191, "noise_n": 7}
SCREEN = {"parent": 1, "stage": "screen", "screen_gain": -0.05}
PARENT_FAILED = {"parent": 1, "stage": "confirm", "screen_gain": 0.1}
TESTED = {"parent": 1, "stage": "confirm", "screen_gain": 0.1, "seeds": [1000200, 1000201],
          "effect": 0.1, "ci95": [0.061, 0.139], "effect_pct": 3.33, "ci95_pct": [2.03, 4.63],
          "p_value": 0.0031, "alpha": 0.02, "sigma": 0.0123, "df": 5}
REJECTED = {**TESTED, "passed": False}
ACCEPTED = {**TESTED, "passed": True, "task_gains": {"1": 0.1, "2": 0.09, "3": 0.12}}
ZERO_PARENT = {**TESTED, "effect_pct": None, "ci95_pct": None, "passed": False}
SEED_STOP = {"stage": "stopped-early", "scope": "seed", "parent": 6, "evaluation": 50,
             "progress": 0.75, "step": 191, "predicted_difference": 0.1135,
             "interval90": [0.038, 0.189], "risk": 0.02, "pairs": 13, "p_better": 0.0107}
TEST_STOP = {"stage": "stopped-early", "scope": "confirm", "parent": 2, "evaluation": 14,
             "progress": 1.0, "step": None, "predicted_difference": -0.002,
             "interval90": [-0.03, 0.03], "risk": 0.1, "pairs": 0, "p_pass": 0.061,
             "bar": 0.045, "effect_spread": None}
BETWEEN_STOP = {**TEST_STOP, "effect_spread": 0.021, "pairs_ended": [1, 2]}
SCREEN_STOP = {**TEST_STOP, "progress": 0.45, "step": 60, "during": "screen"}
CURRENT = [BASELINE, BASELINE_NOISE, SCREEN, PARENT_FAILED, REJECTED, ACCEPTED, ZERO_PARENT,
           SEED_STOP, TEST_STOP, BETWEEN_STOP, SCREEN_STOP]

# as recursors before the futility looks wrote them: no scope, no passed, keys in another order
OLD_STOP = {"stage": "stopped-early", "parent": 1, "evaluation": 7, "progress": 0.5,
            "step": 40, "predicted_difference": 0.2, "interval90": [0.1, 0.3],
            "p_better": 0.004, "risk": 0.02, "pairs": 9}
OLD_TESTED = {k: v for k, v in TESTED.items() if k != "ci95_pct"}


def stored(tmp_path, verdicts):
    """A run database holding `verdicts` as an earlier recursor wrote them, reopened."""
    store = RunStore.create(tmp_path / "run", {"task": "t"})
    base = store.add_node(None, None, {"train.py": "x = 1\n"})
    ids = [store.add_node(base.id, Idea(title=f"n{i}", key=f"n{i}", proposer="library"),
                          {"train.py": f"x = {i}\n"}).id for i in range(len(verdicts))]
    store.close()
    with sqlite3.connect(tmp_path / "run" / DB_NAME) as conn:
        for node_id, v in zip(ids, verdicts, strict=True):
            conn.execute("UPDATE nodes SET status=?, verdict=? WHERE id=?",
                         ("rejected", json.dumps(v), node_id))
    conn.close()
    return RunStore.open(tmp_path / "run", readonly=True), ids


def test_every_kind_stored_today_reads_back_typed_and_writes_the_same_json(tmp_path):
    store, ids = stored(tmp_path, CURRENT)
    read = [store.node(i).verdict for i in ids]
    store.close()
    assert [type(v) for v in read] == [
        BaselineVerdict, BaselineVerdict, ScreenVerdict, ParentFailedVerdict, ConfirmVerdict,
        ConfirmVerdict, ConfirmVerdict, StoppedEarlyVerdict, StoppedEarlyVerdict,
        StoppedEarlyVerdict, StoppedEarlyVerdict]
    for v, d in zip(read, CURRENT, strict=True):
        assert v.stage == d["stage"]
        # the very text: same keys, same order, the same ones left out
        assert json.dumps(v.to_json()) == json.dumps(d)
    base, noisy, screen, failed, rejected, accepted, zero, seed, test, between, during = read
    assert base.noise_std is None and noisy.noise_n == 7 and noisy.mean == 3.0025
    assert screen.parent == 1 and screen.screen_gain == -0.05
    assert failed == ParentFailedVerdict(parent=1, screen_gain=0.1)
    assert rejected.passed is False and rejected.task_gains is None
    assert rejected.ci95 == (0.061, 0.139) and rejected.seeds == (1000200, 1000201)
    assert accepted.passed is True and accepted.task_gains["3"] == 0.12
    assert zero.effect_pct is None and zero.ci95_pct is None
    assert seed.scope == "seed" and seed.p_better == 0.0107 and seed.p_pass is None
    assert test.bar == 0.045 and test.effect_spread is None and test.pairs_ended is None
    assert between.pairs_ended == (1, 2) and during.during == "screen" and during.step == 60


def test_verdicts_of_older_recursors_read_with_their_missing_keys_none(tmp_path):
    store, ids = stored(tmp_path, [OLD_STOP, OLD_TESTED])
    stop, tested = (store.node(i).verdict for i in ids)
    store.close()
    assert stop.scope is None and stop.p_better == 0.004
    assert stop.to_json() == OLD_STOP  # no scope written back where there was none
    assert tested.passed is None and tested.ci95_pct is None
    assert tested.to_json() == {**OLD_TESTED, "ci95_pct": None}


def test_the_store_writes_a_typed_verdict_as_its_json(tmp_path):
    store = RunStore.create(tmp_path / "run", {"task": "t"})
    base = store.add_node(None, None, {"train.py": "x = 1\n"})
    node = store.decide(base.id, NodeStatus.ACCEPTED, "baseline",
                        verdict_from_json(BASELINE_NOISE))
    (text,) = store._conn.execute("SELECT verdict FROM nodes WHERE id=?", (base.id,)).fetchone()
    store.close()
    assert text == json.dumps(BASELINE_NOISE)
    assert node.verdict == BaselineVerdict(3.0025, 0.01708, 4, 0.0191, 7)


def test_the_value_functions_stops_write_what_they_wrote_before():
    from recursor.loop.stopping import Stop

    seed = Stop(node_id=9, evaluation_id=50, progress=0.75, predicted=0.1135,
                interval=(0.038, 0.189), p=0.0107, risk=0.02, step=191, pairs=13)
    assert json.dumps(seed.verdict(6).to_json()) == json.dumps(SEED_STOP)
    test = Stop(node_id=9, evaluation_id=14, progress=1.0, predicted=-0.002,
                interval=(-0.03, 0.03), p=0.061, risk=0.1, step=None, pairs=0, scope="confirm",
                bar=0.045)
    assert json.dumps(test.verdict(2).to_json()) == json.dumps(TEST_STOP)
    between = replace(test, between=(1, 2), prior_sd=0.021)
    assert json.dumps(between.verdict(2).to_json()) == json.dumps(BETWEEN_STOP)
    screen = replace(test, progress=0.45, step=60, in_screen=True)
    assert json.dumps(screen.verdict(2).to_json()) == json.dumps(SCREEN_STOP)


def test_unknown_keys_are_ignored_and_an_unknown_stage_is_an_error():
    v = verdict_from_json({**SCREEN, "added_later": 1})
    assert v == ScreenVerdict(parent=1, screen_gain=-0.05) and v.to_json() == SCREEN
    assert verdict_from_json(None) is None and verdict_from_json({}) is None
    with pytest.raises(ValueError, match="unknown stage 'held-out'"):
        verdict_from_json({"stage": "held-out"})
