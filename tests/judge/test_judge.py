import pytest

from recursor.judge import Judge, JudgeConfig, paired_test, pool
from recursor.store.records import EvalStatus, Evaluation, Node, NodeStatus

SEEDS = (1, 2, 3, 4)


def node(node_id, values, parent=None, status=NodeStatus.RUNNING, failed=()):
    evals = [Evaluation(i, node_id, s, "m", EvalStatus.OK, v, {}, None, 0.0, 1.0, 1.0, "")
             for i, (s, v) in enumerate(values.items())]
    evals += [Evaluation(100 + s, node_id, s, "m", EvalStatus.FAILED, None, {}, "boom", 0, 1, 1,
                         "") for s in failed]
    return Node(node_id, parent, status, None, None, None, "", 0.0, None, None, None, tuple(evals))


BASE = node(1, {1: 3.00, 2: 3.02, 3: 2.98, 4: 3.01}, status=NodeStatus.ACCEPTED)
judge = Judge("m", minimize=True, seeds=SEEDS, config=JudgeConfig(alpha=0.05))
NOISE = judge.noise({1: BASE})


def test_baseline_runs_every_seed_then_is_accepted_with_its_spread():
    assert judge.next_step(node(1, {1: 3.0}), None, None).seeds == (2, 3, 4)
    step = judge.next_step(BASE, None, None)
    assert step.action == "accept" and step.verdict["n"] == 4
    assert step.verdict["std"] == pytest.approx(0.01708, abs=1e-4)


def test_screen_then_confirm_on_fresh_seeds():
    assert judge.next_step(node(2, {}, 1), BASE, NOISE).seeds == (1,)
    worse = judge.next_step(node(2, {1: 3.05}, 1), BASE, NOISE)
    assert worse.action == "reject" and worse.reason.startswith("screen")
    assert judge.next_step(node(2, {1: 2.90}, 1), BASE, NOISE).seeds == (2, 3, 4)


def test_a_clear_improvement_is_accepted_with_effect_and_interval():
    step = judge.next_step(node(2, {1: 2.90, 2: 2.92, 3: 2.88, 4: 2.91}, 1), BASE, NOISE)
    assert step.action == "accept"
    v = step.verdict
    assert v["effect"] == pytest.approx(0.10, abs=1e-9)
    assert v["ci95"][0] > 0 and v["p_value"] < 0.05 and v["seeds"] == [2, 3, 4]


def test_noise_sized_change_is_not_called_an_improvement():
    # better on the screen seed by luck, then within noise on the fresh seeds
    step = judge.next_step(node(2, {1: 2.99, 2: 3.015, 3: 2.985, 4: 3.0}, 1), BASE, NOISE)
    assert step.action == "reject" and "not proven better" in step.reason


def test_clearly_worse_on_fresh_seeds_stops_before_the_last_seed():
    step = judge.next_step(node(2, {1: 2.99, 2: 3.30, 3: 3.28}, 1), BASE, NOISE)
    assert step.action == "reject" and step.reason.startswith("confirm: worse")


def test_a_failed_seed_fails_the_node_with_its_reason():
    step = judge.next_step(node(2, {1: 2.9}, 1, failed=(2,)), BASE, NOISE)
    assert step.action == "fail" and "seed 2: boom" in step.reason


def test_maximize_direction_and_min_effect():
    up = Judge("m", minimize=False, seeds=SEEDS, config=JudgeConfig(min_effect=0.5))
    base = node(1, {1: 10.0, 2: 10.1, 3: 9.9, 4: 10.0}, status=NodeStatus.ACCEPTED)
    noise = up.noise({1: base})
    cand = node(2, {1: 10.2, 2: 10.3, 3: 10.1, 4: 10.2}, 1)
    step = up.next_step(cand, base, noise)
    assert step.action == "reject" and "min_effect" in step.reason
    step = Judge("m", minimize=False, seeds=SEEDS, config=JudgeConfig()).next_step(cand, base, noise)
    assert step.action == "accept"


def test_false_accepts_of_pure_noise_stay_under_alpha():
    """Null candidates drawn from the baseline's own noise are rarely accepted."""
    import random

    rng = random.Random(0)
    accepted = 0
    trials = 2000
    for _ in range(trials):
        seeds_effect = {s: rng.gauss(0, 0.02) for s in SEEDS}
        base = node(1, {s: 3 + seeds_effect[s] + rng.gauss(0, 0.01) for s in SEEDS},
                    status=NodeStatus.ACCEPTED)
        cand = node(2, {s: 3 + seeds_effect[s] + rng.gauss(0, 0.01) for s in SEEDS}, 1)
        step = judge.next_step(cand, base, judge.noise({1: base, 2: cand}))
        accepted += step.action == "accept"
    assert accepted / trials < 0.05


def test_pooled_noise_sharpens_with_more_candidates():
    few = pool([3.0, 3.02, 2.98, 3.01], [])
    many = pool([3.0, 3.02, 2.98, 3.01], [[0.01, 0.0, 0.005]] * 10)
    assert many.df == few.df + 20 and many.variance < few.variance
    # a candidate's own larger spread is never hidden by the pool
    t = paired_test([0.5, -0.3, 0.4], many)
    assert t.sigma > many.sigma
