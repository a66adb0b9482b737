"""The value function inside real runs of `tiny-lm`: a doomed candidate is stopped early."""

from __future__ import annotations

import numpy as np
import pytest

import recursor
from recursor.loop import stopping
from recursor.loop.trial import GivenPatch, GivenPatches
from recursor.store import EvalStatus, NodeStatus
from recursor.value import Curve, Pair, StopSettings
from recursor.value.history import earlier_pairs

pytestmark = pytest.mark.slow


def sr(search: str, replace: str) -> str:
    return f"train.py\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def finished_pairs(n: int = 24) -> list[Pair]:
    """Earlier runs of the task, as the value function would have recorded them: candidates
    whose training loss sat a steady gap from their parent's, and ended 1.4x that gap apart."""
    rng = np.random.default_rng(0)
    progress = np.linspace(0.05, 1.0, 20)
    parent = 3.2 + 2.3 * (1 - progress) ** 2
    pairs = []
    for gap in rng.normal(0, 0.3, n):
        candidate = parent + gap + rng.normal(0, 0.02, progress.size)
        pairs.append(Pair(Curve(progress, candidate), Curve(progress, parent),
                          1.4 * gap + rng.normal(0, 0.02)))
    return pairs


def test_a_doomed_candidate_is_stopped_early_with_its_forecast(tmp_path, small, monkeypatch):
    monkeypatch.setattr(stopping, "earlier_pairs", lambda *a, **k: finished_pairs())
    small = {**small, "budget.train_tokens": 50_000}
    doomed = sr("learning_rate = 1e-3", "learning_rate = 0.0")  # the model never learns
    close = sr("learning_rate = 1e-3", "learning_rate = 1.05e-3")
    # learns nothing in its first half, like the doomed one, but on another schedule
    late = sr("    return learning_rate  # a constant schedule: no warmup, no decay",
              "    return learning_rate if step >= total_steps // 2 else 0.0")
    run = recursor.run("tiny-lm", run_dir=tmp_path / "run", workers=2, overrides=small,
                       heldout=False, stop_audit=0.0,
                       proposer=GivenPatches([GivenPatch("no learning", doomed),
                                              GivenPatch("a nudge", close),
                                              GivenPatch("a late start", late)]),
                       experiments=3)
    nodes = {n.title: n for n in run.nodes() if not n.is_baseline}
    stopped = nodes["no learning"]
    assert stopped.status is NodeStatus.STOPPED_EARLY
    v = stopped.verdict
    assert v.stage == "stopped-early" and v.p_better < 0.02
    assert 0 < v.progress < 1 and v.predicted_difference > 0.5
    assert v.interval90[0] > 0  # even its optimistic end loses to the parent
    assert "stopped early at" in stopped.reason and "P(better)" in stopped.reason
    # the experiment was killed, not run to its end: its run is marked stopped and has no final
    # metric (a run that ended before the stop reached it keeps its value); its training may
    # have reached its last step before the kill (the final evaluation comes after it)
    (ev,) = stopped.evaluations
    baseline = next(n for n in run.nodes() if n.is_baseline)
    assert ev.status is EvalStatus.STOPPED and ev.value is None
    ends = [run.curve(e.id)[-1]["progress"] for e in baseline.evaluations
            if e.status is EvalStatus.OK]
    assert run.curve(ev.id)[-1]["progress"] <= min(ends)
    # a candidate its curve cannot condemn runs on to the judge
    # a candidate its curve cannot condemn is not stopped by the per-seed rule: it is judged, or,
    # once in confirmation, stopped only when its paired test is forecast to fail
    nudge = nodes["a nudge"]
    if nudge.status is NodeStatus.STOPPED_EARLY:
        v = nudge.verdict
        assert v.scope == "confirm" and "pass) = " in nudge.reason
        assert v.p_pass < v.risk == StopSettings().test_risk  # not the per-seed level
        assert -v.predicted_difference < v.bar  # its forecast mean misses the test's bar
    else:
        assert nudge.status in (NodeStatus.REJECTED, NodeStatus.ACCEPTED)
    # the schedule changed: the same flat curve says nothing of its end, and it runs to it
    start = nodes["a late start"]
    assert start.status is NodeStatus.REJECTED and start.evaluations[0].value is not None
    notice = next(e for e in run.events() if e["node_id"] == start.id and e["kind"] == "value")
    assert "lr schedule departs" in notice["message"]
    report = run.report()
    futile = int(nudge.status is NodeStatus.STOPPED_EARLY)
    assert report["counts"]["stopped_early"] == 1 + futile
    assert report["value"]["enabled"] and report["value"]["stopped"] == 1 + futile
    assert report["value"]["stopped_futile"] == futile
    assert report["value"]["looks"] >= 2
    assert 0 <= report["engine"]["overhead_fraction"] < 0.2
    events = [e["kind"] for e in run.events()]
    assert "stopped-early" in events


def test_earlier_runs_of_the_task_feed_the_value_function(small_run):
    small = dict(small_run.config.overrides)
    pairs = earlier_pairs(small_run.run_dir.parent / "next", "tiny-lm", small, "val_bpb",
                          "train_loss")
    nodes = small_run.nodes()
    parents = {n.id: n for n in nodes}
    expected = sum(1 for n in nodes if not n.is_baseline
                   for e in n.evaluations if e.value is not None and e.evaluation == "val_bpb"
                   and e.seed in parents[n.parent_id].values("val_bpb"))
    assert expected and len(pairs) == expected  # every finished candidate/parent pair
    # with the curves as the harness streamed them, read at progress (at this tiny budget a
    # program with large batches leaves up to a batch of the stream unused)
    assert all(len(p.candidate.progress) >= 2 and p.candidate.reached >= 0.5 for p in pairs)
    # another budget is another curve: not mixed in
    assert earlier_pairs(small_run.run_dir.parent / "next", "tiny-lm",
                         {**small, "budget.train_tokens": 1}, "val_bpb", "train_loss") == []
