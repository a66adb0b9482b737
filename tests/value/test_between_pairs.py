"""The futility looks of the confirmation test, on a real run database: a near-null whose first
fresh pair ended level is given up before its second pair starts; a node whose first pair clears
the bar is not; each ended pair is looked at once; a screen still running is given up when its
screen and test are unlikely to pass, not while its forecast is vague, nor before the run's
noise has its degrees of freedom."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from recursor.judge import Judge, JudgeConfig
from recursor.judge.stats import Pooled
from recursor.loop.stopping import MIN_NOISE_DF, Confirmation, EarlyStopping, Flying
from recursor.store import Idea, NodeStatus, RunStore, ScreenVerdict
from recursor.value import Curve, Pair, StopSettings

SIGMA = 0.02
CURVE = [{"step": i, "progress": i / 4, "train_loss": 4.0 - 0.3 * i, "lr": 1e-3}
         for i in range(1, 5)]


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


def look(store, judge, noise=NOISE, history=(), schedule_key=None):
    es = EarlyStopping(store, "val_bpb", "train_loss", True, StopSettings(risk=0.02, audit=0.0),
                       history, schedule_key)
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
    assert stop.verdict(base.id).pairs_ended == (1, 2)
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


def screened(store, base, screen: float):
    """A candidate whose screen ended `screen` better than its parent, no fresh pair run."""
    node = store.add_node(base.id, Idea("a change"), {"train.py": "x = 3\n"})
    evaluate(store, node, 1, 3.00 - screen)
    return store.node(node.id)


def test_a_screen_that_barely_passed_is_given_up_before_its_first_pair(run):
    # early in a run the pooled noise has few degrees of freedom and the bar is high: a screen
    # gain of a twentieth of the noise cannot carry a test that needs nearly two sigmas
    store, judge, base = run
    node = screened(store, base, screen=0.001)
    es, c = look(store, judge, Pooled(SIGMA**2, 6))
    (stop,) = es.look([], {n.id: n for n in store.nodes()}, c)
    assert stop.node_id == node.id and stop.between == (0, 2) and stop.p < 0.10
    assert "after its screen (before its 2 confirmation pairs started)" in stop.reason(
        "val_bpb", True, base.id)
    (p,) = store.predictions()
    screen_run = next(e.id for e in node.evaluations if e.seed == 1)
    assert p.scope == "confirm" and p.decision == "stop" and p.evaluation_id == screen_run
    assert p.risk == StopSettings().test_risk  # the test's level, not the per-seed one


def test_a_failed_screen_is_the_judges_and_a_good_one_runs_on(run):
    store, judge, base = run
    screened(store, base, screen=-0.01)  # the judge rejects it: no look, no stop
    good = screened(store, base, screen=0.03)
    es, c = look(store, judge, Pooled(SIGMA**2, 6))
    assert es.look([], {n.id: n for n in store.nodes()}, c) == []
    (p,) = store.predictions()
    assert p.decision == "continue" and p.p_better > 0.10
    assert p.evaluation_id == next(e.id for e in good.evaluations)


def test_a_run_of_near_nulls_teaches_the_screen_look_to_doubt_a_small_gain(run):
    store, judge, base = run
    # flat prior (no node has ended a fresh pair yet): a screen two fifths of sigma up runs on
    first = screened(store, base, screen=0.008)
    es, c = look(store, judge)
    assert es.look([], {n.id: n for n in store.nodes()}, c) == []
    store.decide(first.id, NodeStatus.REJECTED, "judged by hand")
    # three nodes whose fresh pairs ended level: the run's effects are near-null
    for i in range(3):
        node = candidate(store, judge, base, screen=0.01, first_pair=0.002 * (i - 1))
        second = judge.confirmation_seeds(node)[1]
        evaluate(store, base, second, 3.0)
        evaluate(store, node, second, 3.0 + 0.002 * (i - 1))
    late = screened(store, base, screen=0.008)
    es, c = look(store, judge)
    stops = es.look([], {n.id: n for n in store.nodes()}, c)
    assert [s.node_id for s in stops] == [late.id]
    (stop,) = stops
    assert stop.between == (0, 2) and stop.p < 0.10
    assert stop.verdict(base.id).effect_spread == pytest.approx(SIGMA)  # the floor


def test_a_nodes_prior_is_the_spread_of_the_other_nodes_not_its_own(run):
    from recursor.value.futility import effect_spread

    store, judge, base = run
    others = []
    for i, gain in enumerate((0.0, 0.002, -0.002, 0.08)):  # three near-nulls and a clear win
        node = candidate(store, judge, base, screen=0.01, first_pair=gain)
        second = judge.confirmation_seeds(node)[1]
        evaluate(store, base, second, 3.0)
        evaluate(store, node, second, 3.0 - gain - 0.001 * i)
        others.append([gain, gain + 0.001 * i])
    # a near-null whose first fresh pair ended level: its own pair is data, not prior
    late = candidate(store, judge, base, screen=0.004, first_pair=-0.01)
    es, c = look(store, judge)
    (stop,) = es.look([], {n.id: n for n in store.nodes()}, c)
    assert stop.node_id == late.id and stop.between == (1, 2)
    spread = stop.verdict(base.id).effect_spread
    assert spread == pytest.approx(effect_spread(others, SIGMA))
    assert spread != pytest.approx(effect_spread(others + [[-0.01]], SIGMA))


def history(noise: float, n: int = 30) -> list[Pair]:
    """Earlier finished pairs on CURVE's schedule: each candidate's training loss sat a steady
    gap from its parent's, and it ended that gap apart, give or take `noise`."""
    rng = np.random.default_rng(0)
    parent = Curve.from_points(CURVE, "train_loss")
    pairs = []
    for gap in rng.normal(0, 0.05, n):
        cand = Curve(parent.progress, parent.values + gap + rng.normal(0, 0.001, 4))
        pairs.append(Pair(cand, parent, gap + rng.normal(0, noise)))
    return pairs


def screening(store, base, tmp_path, gap: float, upto: int = 2) -> tuple[object, Flying]:
    """A candidate whose screen is running: its curve so far sits `gap` above its parent's."""
    node = store.add_node(base.id, Idea("a change"), {"train.py": "x = 4\n"})
    ev = store.start_evaluation(node.id, 1, "val_bpb")
    metrics = tmp_path / f"metrics-{ev.id}.jsonl"
    metrics.write_text("".join(json.dumps({"type": "curve", **pt, "train_loss":
                                           pt["train_loss"] + gap}) + "\n"
                               for pt in CURVE[:upto]))
    return store.node(node.id), Flying(ev.id, node.id, 1, "val_bpb", "screen", metrics)


def grown(flying: Flying, gap: float, upto: int, lr=lambda progress: 1e-3) -> Flying:
    """The same running screen, its curve now `upto` points long (its learning rate `lr`)."""
    flying.metrics_file.write_text("".join(
        json.dumps({"type": "curve", **pt, "train_loss": pt["train_loss"] + gap,
                    "lr": lr(pt["progress"])}) + "\n"
        for pt in CURVE[:upto]))
    return flying


def test_a_screen_on_another_learning_rate_schedule_is_not_stopped_on_its_curve(run, tmp_path):
    # the level screen above, but its rate warms up where its parent's is flat: a schedule
    # that may pay off in a part of the run no partial curve has seen (a decay to come), so its
    # gap cannot give it up. A rate that is only scaled keeps its parent's schedule: stopped
    store, judge, base = run
    noise = Pooled(SIGMA**2, 6)
    warmup = lambda progress: 1e-3 * min(1.0, progress / 0.75)  # noqa: E731
    node, flying = screening(store, base, tmp_path, gap=0.0)
    es, c = look(store, judge, noise, history(noise=SIGMA / 4), schedule_key="lr")
    for upto in (2, 3):
        assert es.look([grown(flying, 0.0, upto, warmup)], {n.id: n for n in store.nodes()},
                       c) == []
    looks = store.predictions()
    assert [(p.scope, p.decision) for p in looks] == [("seed", "continue")] * 2  # recorded
    ((about, message),) = es.take_notices()
    assert about == node.id and "lr schedule departs from node 1's" in message
    assert es.take_notices() == []
    _, scaled = screening(store, base, tmp_path, gap=0.0)
    es, c = look(store, judge, noise, history(noise=SIGMA / 4), schedule_key="lr")
    assert es.look([grown(scaled, 0.0, 2, lambda progress: 3e-3)],
                   {n.id: n for n in store.nodes()}, c) == []
    (stop,) = es.look([grown(scaled, 0.0, 3, lambda progress: 3e-3)],
                      {n.id: n for n in store.nodes()}, c)
    assert stop.node_id == scaled.node_id and es.take_notices() == []


def test_a_level_screen_is_given_up_while_it_runs_once_its_forecast_is_sharp(run, tmp_path):
    store, judge, base = run
    node, flying = screening(store, base, tmp_path, gap=0.0)
    es, c = look(store, judge, Pooled(SIGMA**2, 6), history(noise=SIGMA / 4))
    # one look below the level waits for the next: one reading of a curve can be an outlier
    assert es.look([flying], {n.id: n for n in store.nodes()}, c) == []
    seed_look, test_look = store.predictions()
    assert seed_look.scope == "seed" and seed_look.decision == "continue"  # a coin toss there
    assert test_look.scope == "confirm" and test_look.p_better < 0.10
    assert test_look.decision == "continue"
    # the second look is made by a resumed loop: the first one still counts
    es, c = look(store, judge, Pooled(SIGMA**2, 6), history(noise=SIGMA / 4))
    (stop,) = es.look([grown(flying, 0.0, 3)], {n.id: n for n in store.nodes()}, c)
    assert stop.node_id == node.id and stop.scope == "confirm" and stop.p < 0.10
    assert stop.progress == 0.75 and stop.evaluation_id == flying.evaluation_id
    assert "at 75% of its screen" in stop.reason("val_bpb", True, base.id)
    assert stop.verdict(base.id).during == "screen"
    assert store.predictions()[-1].decision == "stop"


def test_a_run_first_seen_far_along_is_looked_at_at_every_point_it_passed(run, tmp_path):
    # a fast run (or a slow loop) can go from its first point to three quarters between two
    # looks: it is looked at once per grid point it passed, as if the loop had ticked at each,
    # so whether it is stopped does not hang on when the loop looked
    store, judge, base = run
    node, flying = screening(store, base, tmp_path, gap=0.0, upto=3)
    es, c = look(store, judge, Pooled(SIGMA**2, 6), history(noise=SIGMA / 4))
    (stop,) = es.look([flying], {n.id: n for n in store.nodes()}, c)
    assert stop.node_id == node.id and stop.scope == "confirm" and stop.progress == 0.75
    assert sorted((p.scope, p.progress, p.decision) for p in store.predictions()) == [
        ("confirm", 0.5, "continue"), ("confirm", 0.75, "stop"),
        ("seed", 0.5, "continue"), ("seed", 0.75, "continue")]
    # a doomed screen seen first at three quarters: two looks on its own seed, stopped at once
    doomed, flying = screening(store, base, tmp_path, gap=0.3, upto=3)
    es, _ = look(store, judge, history=history(noise=SIGMA / 4))
    (stop,) = es.look([flying], {n.id: n for n in store.nodes()})
    assert stop.node_id == doomed.id and stop.scope == "seed" and stop.progress == 0.75
    mine = [p for p in store.predictions() if p.evaluation_id == flying.evaluation_id]
    assert [(p.progress, p.decision) for p in mine] == [(0.5, "continue"), (0.75, "stop")]
    # nothing new, no new look; a resumed loop does not look at the same points again
    assert es.look([flying], {n.id: n for n in store.nodes()}) == []
    es, _ = look(store, judge, history=history(noise=SIGMA / 4))
    assert es.look([flying], {n.id: n for n in store.nodes()}) == []
    assert len(store.predictions()) == 6


def test_no_test_look_before_the_runs_noise_has_its_degrees_of_freedom(run, tmp_path):
    # the same level screen as above, early in a run: the judge's noise rests on the baseline's
    # seeds alone (3 degrees), its bar is inflated, and the pairs a stop would save are what
    # the judge needs to bring it down; the per-seed look still goes on
    store, judge, base = run
    node, flying = screening(store, base, tmp_path, gap=0.0)
    es, c = look(store, judge, Pooled(SIGMA**2, 3), history(noise=SIGMA / 4))
    assert es.look([flying], {n.id: n for n in store.nodes()}, c) == []
    assert [p.scope for p in store.predictions()] == ["seed"]
    es, c = look(store, judge, Pooled(SIGMA**2, MIN_NOISE_DF), history(noise=SIGMA / 4))
    flying = screening(store, base, tmp_path, gap=0.0)[1]
    assert es.look([flying], {n.id: n for n in store.nodes()}, c) == []  # its first look
    (stop,) = es.look([grown(flying, 0.0, 3)], {n.id: n for n in store.nodes()}, c)
    assert stop.scope == "confirm" and stop.verdict(base.id).during == "screen"


def test_a_look_forecasts_the_test_its_node_will_get(run, tmp_path):
    # the run's noise has its degrees of freedom, but the test of this node pools only the
    # nodes proposed up to it (Judge.noise's upto): its look waits for that test's
    store, judge, base = run
    node, flying = screening(store, base, tmp_path, gap=0.0)
    es, c = look(store, judge, Pooled(SIGMA**2, MIN_NOISE_DF), history(noise=SIGMA / 4))
    early = Pooled(SIGMA**2, 3)
    asked = []

    def tested_with(n):
        asked.append(n.id)
        return judge.confirmation_bar(early), early.sigma, early.df

    assert es.look([flying], {n.id: n for n in store.nodes()},
                   replace(c, tested_with=tested_with)) == []
    assert set(asked) == {node.id}


def test_a_screen_whose_forecast_is_vague_or_good_runs_on(run, tmp_path):
    store, judge, base = run
    _, level = screening(store, base, tmp_path, gap=0.0)
    es, c = look(store, judge, Pooled(SIGMA**2, 6), history(noise=2 * SIGMA))
    # the partial curve says less than a finished run would: its doubt leaves room for a
    # gain large enough to pass, and the look lets it run on
    assert es.look([level], {n.id: n for n in store.nodes()}, c) == []
    seed_look, test_look = store.predictions()
    assert (seed_look.scope, test_look.scope) == ("seed", "confirm")
    assert test_look.decision == "continue" and test_look.p_better >= 0.10
    _, good = screening(store, base, tmp_path, gap=-0.1)  # well ahead of its parent
    es, c = look(store, judge, Pooled(SIGMA**2, 6), history(noise=SIGMA / 4))
    assert es.look([good], {n.id: n for n in store.nodes()}, c) == []


def test_an_audited_screen_look_on_a_node_its_screen_rejects_counts_as_a_right_stop(run,
                                                                                     tmp_path):
    from recursor.value.calibration import audit_outcomes

    store, judge, base = run
    node, flying = screening(store, base, tmp_path, gap=0.0)
    es = EarlyStopping(store, "val_bpb", "train_loss", True,
                       StopSettings(risk=0.02, audit=1.0, looks=1), history(noise=SIGMA / 4))
    c = Confirmation(judge.confirmation_bar(Pooled(SIGMA**2, 6)), SIGMA, 1,
                     judge.confirmation_seeds, 6)
    assert es.look([flying], {n.id: n for n in store.nodes()}, c) == []  # audited: runs on
    assert [p.decision for p in store.predictions()] == ["continue", "audit"]
    store.finish_evaluation(flying.evaluation_id, ok=True, value=3.004, metrics={}, reason=None,
                            seconds=1.0, curve=CURVE)
    store.decide(node.id, NodeStatus.REJECTED, "screen", ScreenVerdict(base.id, -0.004))
    (outcome,) = audit_outcomes(store.predictions(), store.nodes(), minimize=True)
    assert outcome.scope == "confirm" and not outcome.wrong and not outcome.accepted
    assert outcome.improvement == -0.004


def test_a_confirmation_run_is_not_stopped_on_its_own_seeds_forecast(run, tmp_path):
    # a clear winner at its screen, whose first fresh run looks half-way like a loser (as a
    # schedule that pays off only at the end does): its node's test decides, not that seed
    store, judge, base = run
    node = store.add_node(base.id, Idea("a late bloomer"), {"train.py": "x = 5\n"})
    evaluate(store, node, 1, 3.00 - 0.1)
    fresh = judge.confirmation_seeds(store.node(node.id))[0]
    evaluate(store, base, fresh, 3.0)
    ev = store.start_evaluation(node.id, fresh, "val_bpb")
    metrics = tmp_path / "metrics-late.jsonl"
    metrics.write_text("".join(json.dumps({"type": "curve", **pt, "train_loss":
                                           pt["train_loss"] + 0.2}) + "\n" for pt in CURVE[:2]))
    flying = Flying(ev.id, node.id, fresh, "val_bpb", "confirm", metrics)
    es, c = look(store, judge, history=history(noise=SIGMA / 4))
    assert es.look([flying], {n.id: n for n in store.nodes()}, c) == []
    seed_look = next(p for p in store.predictions() if p.scope == "seed")
    assert seed_look.p_better < 0.02 and seed_look.decision == "continue"  # forecast, recorded
