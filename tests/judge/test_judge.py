import random

import pytest

from recursor.judge import Judge, JudgeConfig, paired_test, pool
from recursor.judge.judge import confirmation_seed
from recursor.store.records import EvalStatus, Evaluation, Node, NodeStatus
from recursor.store.verdicts import ParentFailedVerdict, ScreenVerdict

SEEDS = (1, 2, 3, 4)


def node(node_id, values, parent=None, status=NodeStatus.RUNNING, failed=()):
    evals = [Evaluation(i, node_id, s, "m", EvalStatus.OK, v, {}, None, 0.0, 1.0, 1.0, "")
             for i, (s, v) in enumerate(values.items())]
    evals += [Evaluation(100 + s, node_id, s, "m", EvalStatus.FAILED, None, {}, "boom", 0, 1, 1,
                         "") for s in failed]
    return Node(node_id, parent, status, None, None, None, "", 0.0, None, None, None, tuple(evals))


BASE_VALUES = {1: 3.00, 2: 3.02, 3: 2.98, 4: 3.01}
BASE = node(1, BASE_VALUES, status=NodeStatus.ACCEPTED)
judge = Judge("m", minimize=True, seeds=SEEDS, config=JudgeConfig(alpha=0.05))
NOISE = judge.noise({1: BASE})
F0, F1 = confirmation_seed(2, 0), confirmation_seed(2, 1)


def test_baseline_runs_every_seed_then_is_accepted_with_its_spread():
    assert judge.next_step(node(1, {1: 3.0}), None, None).runs == ((1, 2), (1, 3), (1, 4))
    step = judge.next_step(BASE, None, None)
    assert step.action == "accept" and step.verdict.n == 4
    assert step.verdict.std == pytest.approx(0.01708, abs=1e-4)


def test_noise_seeds_give_the_first_tests_degrees_of_freedom_but_not_the_baseline_mean():
    noisy = Judge("m", minimize=True, seeds=SEEDS, config=JudgeConfig(alpha=0.05, noise=3))
    extra = noisy.noise_seeds(BASE)
    assert len(set(extra)) == 3 and not set(extra) & set(SEEDS)
    # fresh for every comparison: no candidate confirms on them, nor the baseline as a parent
    assert not set(extra) & {confirmation_seed(n, j) for n in range(2, 500) for j in range(2)}
    assert noisy.next_step(BASE, None, None).runs == tuple((1, s) for s in extra)
    base = node(1, {**BASE_VALUES, **dict(zip(extra, (3.03, 2.99, 3.00), strict=True))})
    step = noisy.next_step(base, None, None)
    assert step.action == "accept" and step.verdict.noise_n == 7
    # the mean every candidate is compared with stays over the task's seeds
    assert step.verdict.n == 4 and step.verdict.mean == pytest.approx(3.0025)
    assert list(step.verdict.to_json()) == ["stage", "mean", "std", "n", "noise_std", "noise_n"]
    assert noisy.noise({1: base}).df == 6 and judge.noise({1: base}).df == 3
    assert noisy.confirmation_bar(noisy.noise({1: base})) < judge.confirmation_bar(NOISE)


def test_screen_then_confirm_on_fresh_seeds_run_by_candidate_and_parent():
    assert judge.next_step(node(2, {}, 1), BASE, NOISE).runs == ((2, 1),)
    worse = judge.next_step(node(2, {1: 3.05}, 1), BASE, NOISE)
    assert worse.action == "reject" and worse.reason.startswith("screen")
    assert worse.verdict == ScreenVerdict(parent=1, screen_gain=pytest.approx(-0.05))
    step = judge.next_step(node(2, {1: 2.90}, 1), BASE, NOISE)
    assert step.reason == "confirm"
    # seed by seed, the parent's run first (the value function looks against its curve)
    assert step.runs == ((1, F0), (2, F0), (1, F1), (2, F1))
    assert not {F0, F1} & set(SEEDS)
    # no two candidates share a confirmation seed
    assert confirmation_seed(3, 0) not in (F0, F1)


def confirmed(cand_fresh, base_fresh, extra=None):
    base = node(1, {**BASE_VALUES, F0: base_fresh[0], F1: base_fresh[1]},
                status=NodeStatus.ACCEPTED)
    cand = node(2, {1: 2.90, F0: cand_fresh[0], F1: cand_fresh[1], **(extra or {})}, 1)
    return cand, base


def test_a_clear_improvement_completes_the_task_seeds_then_is_accepted():
    cand, base = confirmed((2.90, 2.91), (3.00, 3.01))
    step = judge.next_step(cand, base, judge.noise({1: base, 2: cand}))
    assert step.reason == "complete" and step.runs == ((2, 2), (2, 3), (2, 4))
    cand, base = confirmed((2.90, 2.91), (3.00, 3.01), {2: 2.92, 3: 2.88, 4: 2.91})
    step = judge.next_step(cand, base, judge.noise({1: base, 2: cand}))
    assert step.action == "accept"
    v = step.verdict
    assert v.effect == pytest.approx(0.10, abs=1e-9)
    assert v.ci95[0] > 0 and v.p_value < 0.05 and v.seeds == (F0, F1)
    assert v.effect_pct == pytest.approx(100 * 0.10 / 3.0025, rel=1e-6)
    assert v.task_gains["1"] == pytest.approx(0.10)
    # stored as the judge always stored it: reports and old readers depend on these keys
    assert list(v.to_json()) == ["parent", "stage", "screen_gain", "seeds", "effect", "ci95",
                                 "effect_pct", "ci95_pct", "p_value", "alpha", "sigma", "df",
                                 "passed", "task_gains"]
    assert v.to_json()["seeds"] == [F0, F1] and v.to_json()["task_gains"] == {
        "1": pytest.approx(0.10), "2": pytest.approx(0.10), "3": pytest.approx(0.10),
        "4": pytest.approx(0.10)}


def test_noise_sized_change_is_not_called_an_improvement():
    # better on the screen seed by luck, then within noise on the fresh pairs
    cand, base = confirmed((3.005, 2.995), (3.0, 3.0))
    step = judge.next_step(cand, base, judge.noise({1: base, 2: cand}))
    assert step.action == "reject" and "not proven better" in step.reason


def test_a_failed_seed_fails_the_node_with_its_reason():
    step = judge.next_step(node(2, {1: 2.9}, 1, failed=(F0,)), BASE, NOISE)
    assert step.action == "fail" and f"seed {F0}: boom" in step.reason


def test_a_parent_that_fails_a_confirmation_seed_rejects_rather_than_loops():
    base = node(1, BASE_VALUES, status=NodeStatus.ACCEPTED, failed=(F0,))
    step = judge.next_step(node(2, {1: 2.9, F0: 2.9, F1: 2.9}, 1), base, NOISE)
    assert step.action == "reject" and "failed on confirmation seed" in step.reason
    assert step.verdict == ParentFailedVerdict(parent=1, screen_gain=pytest.approx(0.1))
    assert step.verdict.to_json() == {"parent": 1, "stage": "confirm",
                                      "screen_gain": step.verdict.screen_gain}


def test_maximize_direction_and_min_effect():
    fresh = {confirmation_seed(2, 0): 10.0, confirmation_seed(2, 1): 10.05}
    base = node(1, {1: 10.0, 2: 10.1, 3: 9.9, 4: 10.0, **fresh}, status=NodeStatus.ACCEPTED)
    cand = node(2, {1: 10.3, 2: 10.4, 3: 10.2, 4: 10.3,
                    **{s: v + 0.3 for s, v in fresh.items()}}, 1)
    up = Judge("m", minimize=False, seeds=SEEDS, config=JudgeConfig(min_effect=0.5))
    noise = up.noise({1: base, 2: cand})
    step = up.next_step(cand, base, noise)
    assert step.action == "reject" and "min_effect" in step.reason
    step = Judge("m", minimize=False, seeds=SEEDS, config=JudgeConfig()).next_step(cand, base,
                                                                                  noise)
    assert step.action == "accept"


def simulate_run(rng, judge, n_candidates, fresh_pairs, effect=0.0, seed_sd=0.02):
    """Accepted count of one run of `n_candidates` candidates (true gain `effect`, null by
    default) against one parent.

    A value is 3 + the seed's own effect (initialisation and data order, shared by every
    program run on that seed) + run noise. `fresh_pairs=False` replays the older design that
    confirmed every candidate on the task's own seeds 2..4.
    """
    seed_effect: dict[int, float] = {}

    def value(seed):
        if seed not in seed_effect:
            seed_effect[seed] = rng.gauss(0, seed_sd)
        return 3 + seed_effect[seed] + rng.gauss(0, 0.01)

    base = {s: value(s) for s in SEEDS + judge.noise_seeds(node(1, {}))}
    nodes = {1: node(1, base, status=NodeStatus.ACCEPTED)}
    accepted, groups = 0, []
    for cid in range(2, n_candidates + 2):
        parent = nodes[1]
        cand = {1: value(1) - effect}
        if cand[1] >= base[1]:
            continue  # rejected at the screen
        if fresh_pairs:
            seeds = [confirmation_seed(cid, j) for j in range(judge.config.confirm)]
            parent_vals = {**parent.values("m"), **{s: value(s) for s in seeds}}
            parent = nodes[1] = node(1, parent_vals, status=NodeStatus.ACCEPTED)
        else:
            seeds = list(SEEDS[1:])
        cand.update({s: value(s) - effect for s in seeds})
        candidate = node(cid, cand, 1)
        nodes[cid] = candidate
        if fresh_pairs:
            step = judge.next_step(candidate, parent, judge.noise(nodes))
            accepted += step.action == "accept" or step.reason == "complete"
        else:
            gains = [base[s] - cand[s] for s in seeds]
            groups.append(gains)
            test = paired_test(gains, pool(list(base.values()), groups))
            accepted += test.p_value < judge.config.alpha
    return accepted


@pytest.mark.slow
def test_a_run_of_200_null_candidates_does_not_accept_noise_10_times():
    """The issue's bar, by simulation: 200 nulls per run, 40 runs, alpha = 0.02."""
    strict = Judge("m", minimize=True, seeds=SEEDS, config=JudgeConfig(alpha=0.02))
    rng = random.Random(0)
    fresh = [simulate_run(rng, strict, 200, fresh_pairs=True) for _ in range(40)]
    shared = [simulate_run(rng, strict, 200, fresh_pairs=False) for _ in range(40)]
    assert max(fresh) < 10
    assert sum(fresh) / len(fresh) <= 0.02 * 200
    # confirming on seeds every candidate shares makes false accepts come in bursts
    assert max(shared) >= 10 > max(fresh)


@pytest.mark.slow
def test_noise_seeds_find_real_gains_early_in_a_run_and_keep_false_accepts_bounded():
    """A run's first candidates are judged with the baseline's degrees of freedom only: with 3
    noise seeds the inflated bar of 3 degrees comes down and more of a real gain's first tests
    pass, where the baseline's spread over seeds is that of a paired difference (pairing
    removes little: tiny-lm, docs/judge.md). Where pairing removes much (a large shared seed effect),
    the baseline's spread overstates the noise and more of it makes the tests stricter, never
    looser; nulls pass at about alpha either way."""
    plain = Judge("m", minimize=True, seeds=SEEDS, config=JudgeConfig(alpha=0.02))
    noisy = Judge("m", minimize=True, seeds=SEEDS, config=JudgeConfig(alpha=0.02, noise=3))

    def found(judge, seed_sd):  # a run's first candidate, a gain of 2 sd of a paired difference
        rng = random.Random(1)
        return sum(simulate_run(rng, judge, 1, True, effect=0.028, seed_sd=seed_sd)
                   for _ in range(1000))

    assert found(noisy, 0.0) > 1.1 * found(plain, 0.0)  # 624 and 512 of 1000
    assert found(noisy, 0.02) < 0.9 * found(plain, 0.02)  # 83 and 128
    rng = random.Random(2)
    for seed_sd in (0.0, 0.02):
        nulls = [simulate_run(rng, noisy, 200, True, seed_sd=seed_sd) for _ in range(5)]
        assert max(nulls) < 10 and sum(nulls) / len(nulls) <= 0.02 * 200


def test_a_test_pools_the_nodes_proposed_before_it_once_they_are_settled():
    """Two candidates confirm at once: which ends its pairs first must not change a verdict."""
    g2, g3 = confirmation_seed(2, 0), confirmation_seed(3, 0)
    h2, h3 = confirmation_seed(2, 1), confirmation_seed(3, 1)
    base = node(1, {**BASE_VALUES, g2: 3.0, h2: 3.01, g3: 3.02, h3: 2.99},
                status=NodeStatus.ACCEPTED)
    second = node(2, {1: 2.9, g2: 2.95}, 1)  # one fresh pair still to run
    third = node(3, {1: 2.9, g3: 2.93, h3: 2.97}, 1)  # its pairs are in
    nodes = {1: base, 2: second, 3: third}
    assert judge.unsettled(third, nodes) is second and judge.unsettled(second, nodes) is None
    # a later node's pairs never enter an earlier node's test
    assert judge.noise(nodes, upto=2).df == judge.noise({1: base}).df
    assert judge.noise(nodes, upto=3).df == judge.noise({1: base}).df + 1
    done = node(2, {1: 2.9, g2: 2.95, h2: 2.96}, 1)
    assert judge.unsettled(third, {**nodes, 2: done}) is None
    stopped = node(2, {1: 2.9, g2: 2.95}, 1, status=NodeStatus.STOPPED_EARLY)
    assert judge.unsettled(third, {**nodes, 2: stopped}) is None


def test_pooled_noise_sharpens_with_more_candidates():
    few = pool([3.0, 3.02, 2.98, 3.01], [])
    many = pool([3.0, 3.02, 2.98, 3.01], [[0.01, 0.0, 0.005]] * 10)
    assert many.df == few.df + 20 and many.variance < few.variance
    # an unstable candidate widens the pool it is judged with
    wild = pool([3.0, 3.02, 2.98, 3.01], [[0.01, 0.0, 0.005]] * 10 + [[0.5, -0.3, 0.4]])
    assert wild.variance > many.variance


def test_the_confirmation_bar_is_where_the_paired_test_starts_to_pass():
    cand, base = confirmed((2.90, 2.91), (3.00, 3.01))
    noise = judge.noise({1: base, 2: cand})
    bar = judge.confirmation_bar(noise)
    assert paired_test([bar * 1.01] * 2, noise).p_value < judge.config.alpha
    assert paired_test([bar * 0.99] * 2, noise).p_value > judge.config.alpha
    # the verdicts say whether the test passed: what a futility stop is checked against
    cand, base = confirmed((2.90, 2.91), (3.00, 3.01), {2: 2.92, 3: 2.88, 4: 2.91})
    passed = judge.next_step(cand, base, judge.noise({1: base, 2: cand}))
    assert passed.action == "accept" and passed.verdict.passed is True
    cand, base = confirmed((3.00, 3.01), (3.00, 3.00))
    failed = judge.next_step(cand, base, judge.noise({1: base, 2: cand}))
    assert failed.action == "reject" and failed.verdict.passed is False
    assert list(failed.verdict.to_json())[-3:] == ["sigma", "df", "passed"]
