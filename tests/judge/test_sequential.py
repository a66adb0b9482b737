"""The sequential confirmation: a promising candidate gets more fresh pairs, in looks, up to the
task's cap, with alpha spent over the looks; what a user of a noisy task would notice."""

import json
import random
from dataclasses import replace

import numpy as np
import pytest

from recursor.errors import TaskError
from recursor.judge import Judge, JudgeConfig
from recursor.judge.judge import confirmation_seed
from recursor.judge.sequential import Design, conditional_power, look_sizes
from recursor.judge.simulate import node, simulate_run
from recursor.store import ConfirmVerdict, Idea, NodeStatus, RunStore, verdict_from_json
from recursor.store.verdicts import Look
from recursor.task import load_task

SEEDS = (1, 2, 3, 4)
# the baseline's task and noise seeds: a seed-to-seed spread of 0.030, so a prior spread of
# paired differences of 0.042 over 6 degrees of freedom, a noisy LM task's
BASE_VALUES = (3.00, 3.04, 2.97, 3.02, 2.99, 3.035, 2.965)
FRESH = tuple(confirmation_seed(2, j) for j in range(99))


def judge(confirm_max=None, spending="obrien-fleming", alpha=0.02, **kw) -> Judge:
    return Judge("m", minimize=True, seeds=SEEDS,
                 config=JudgeConfig(alpha=alpha, confirm_max=confirm_max, spending=spending,
                                    noise=3, **kw))


def pair(j: Judge, gains, task_seeds=False):
    """Baseline and candidate 2 with fresh pairs of the given improvements (the parent at 3.0
    on each fresh seed); with `task_seeds` the candidate has run the task's seeds too."""
    base = dict(zip(SEEDS + j.noise_seeds(node(1, {})), BASE_VALUES, strict=True))
    cand = {1: 2.9}
    if task_seeds:
        cand.update({s: base[s] - 0.05 for s in SEEDS[1:]})
    for s, g in zip(FRESH, gains, strict=False):
        base[s], cand[s] = 3.0, 3.0 - g
    parent = node(1, base, status=NodeStatus.ACCEPTED)
    return node(2, cand, 1), parent


def step(j: Judge, gains, task_seeds=False):
    cand, parent = pair(j, gains, task_seeds)
    return j.next_step(cand, parent, j.noise({1: parent, 2: cand}))


# -- the design ------------------------------------------------------------------------------

def test_one_look_is_exactly_the_fixed_test_of_earlier_recursors():
    d = Design.of(0.02, 2, None)
    assert d.pairs == (2,) and d.levels == (0.02,) and not d.sequential
    assert judge().confirmation_seeds(node(2, {})) == FRESH[:2]


def test_looks_come_every_confirm_pairs_and_the_last_at_the_cap():
    assert look_sizes(2, 6) == (2, 4, 6)
    assert look_sizes(2, 5) == (2, 4, 5)
    assert look_sizes(3, 3) == (3,)


@pytest.mark.parametrize("spending", ["obrien-fleming", "pocock"])
def test_the_looks_together_spend_alpha_and_no_more(spending):
    """Brownian motion of the paired z under the null: the chance that some look passes its
    boundary is alpha (200,000 draws, Monte-Carlo error 0.0003)."""
    d = Design.of(0.02, 2, 6, spending)
    rng = np.random.default_rng(0)
    steps = rng.normal(size=(200_000, 6))
    z = np.stack([steps[:, :n].sum(1) / np.sqrt(n) for n in d.pairs], 1)
    crossed = (z >= np.array(d.boundaries)).any(1).mean()
    assert abs(crossed - 0.02) < 0.0012
    # testing each look at alpha instead would spend it at every look
    assert (z >= np.array(Design.of(0.02, 2, None).boundaries[0])).any(1).mean() > 0.035
    if spending == "obrien-fleming":  # almost nothing early, nearly alpha at the cap
        assert d.levels[0] < 1e-4 and 0.015 < d.levels[-1] < 0.02
    else:  # about the same level at every look
        assert max(d.levels) / min(d.levels) < 1.1 and max(d.levels) < 0.01


def test_conditional_power_follows_the_trend():
    assert conditional_power(0.0, 1 / 3, 2.08) < 0.05  # no gain so far: hopeless
    assert conditional_power(1.66, 1 / 3, 2.08) > 0.5  # the two pairs: promising
    assert conditional_power(2.1, 1.0, 2.08) == 1.0


# -- what a user notices -----------------------------------------------------------------------

def test_a_noisy_real_gain_the_fixed_pairs_miss_is_accepted_at_a_later_look():
    """Better on both fresh pairs (by 0.051 and 0.043), yet two pairs are too few on this noise;
    with a cap of 6 the judge asks for more, and a gain that holds up is accepted."""
    gains = (0.051, 0.043, 0.046, 0.050, 0.045, 0.048)
    fixed = step(judge(), gains[:2])
    assert fixed.action == "reject" and fixed.verdict.p_value > 0.05
    assert fixed.reason.startswith("not proven better (p >= 0.02)")
    seq = judge(confirm_max=6)
    first = step(seq, gains[:2])
    assert first.action == "run" and first.reason == "confirm" and first.tested
    assert first.runs == ((1, FRESH[2]), (2, FRESH[2]), (1, FRESH[3]), (2, FRESH[3]))
    second = step(seq, gains[:4])
    assert second.action == "run" and second.runs[0] == (1, FRESH[4])
    done = step(seq, gains, task_seeds=True)
    assert done.action == "accept"
    assert "accepted at look 3 of 3 (6 fresh pairs)" in done.reason
    v = done.verdict
    assert v.passed and v.look == 3 and v.planned_looks == 3 and v.seeds == FRESH[:6]
    assert [lk.pairs for lk in v.looks] == [2, 4, 6]
    assert [lk.decision for lk in v.looks] == ["continue", "continue", "pass"]
    assert [lk.level for lk in v.looks] == list(seq.design.levels)
    assert v.p_value == v.looks[-1].p_value < v.looks[-1].level
    assert v.alpha == 0.02  # what the whole confirmation spends: the report's bound


def test_an_earlier_look_is_recorded_as_it_was_decided():
    """The p-value of look 1 in the final verdict is the one the judge saw at look 1, though
    the pool has the node's later pairs in it by then."""
    seq = judge(confirm_max=6)
    gains = (0.051, 0.043, 0.046, 0.050)
    cand, parent = pair(seq, gains[:2])
    at_first = seq._looks(cand, parent, seq.noise({1: parent, 2: cand})).looks[0]
    cand, parent = pair(seq, gains)
    later = seq._looks(cand, parent, seq.noise({1: parent, 2: cand})).looks
    assert later[0].p_value == pytest.approx(at_first.p_value, rel=1e-9)
    assert later[0].decision == "continue" and at_first.decision == "continue"


def test_a_candidate_with_no_gain_so_far_is_given_up_at_its_first_look():
    seq = judge(confirm_max=6)
    s = step(seq, (0.01, -0.012))
    assert s.action == "reject" and "futile at look 1 of 3 (2 fresh pairs)" in s.reason
    (look,) = s.verdict.looks
    assert look.decision == "futile" and look.conditional_power < 0.05
    assert s.verdict.passed is False


def test_a_clear_gain_is_accepted_at_its_first_look_without_more_pairs():
    seq = judge(confirm_max=6, spending="pocock")
    s = step(seq, (0.15, 0.16), task_seeds=True)
    assert s.action == "accept" and "accepted at look 1 of 3 (2 fresh pairs)" in s.reason
    assert s.verdict.seeds == FRESH[:2] and s.verdict.look == 1


def test_min_effect_still_holds_at_every_look():
    seq = judge(confirm_max=6, spending="pocock", min_effect=0.5)
    s = step(seq, (0.15, 0.16))
    assert s.action == "reject" and "min_effect 0.5, at look 1 of 3" in s.reason


# -- the cap and the spending hold against a candidate that keeps asking ------------------------

def test_a_candidate_kept_just_short_of_passing_is_decided_at_the_cap():
    """An adversary picks each look's fresh pairs to keep its candidate promising without
    passing: the judge asks for pairs up to the cap, never beyond, and then rejects."""
    seq = judge(confirm_max=6)
    gains: list[float] = []
    asked = []
    for _ in range(50):  # far more than the cap allows
        cand, parent = pair(seq, gains)
        s = seq.next_step(cand, parent, seq.noise({1: parent, 2: cand}))
        if s.action != "run":
            break
        assert s.reason == "confirm"  # never passed, so never completing its task seeds
        asked += [seed for _, seed in s.runs]
        gains += _short_of_passing(seq, gains, len(s.runs) // 2)
    assert s.action == "reject" and s.reason.startswith("not proven better (p >= ")
    assert "look 3 of 3 (6 fresh pairs), the cap" in s.reason
    assert set(asked) == set(FRESH[:6]) and len(gains) == 6
    assert [lk.decision for lk in s.verdict.looks] == ["continue", "continue", "cap"]
    assert all(lk.p_value >= lk.level for lk in s.verdict.looks)
    assert s.verdict.looks[-1].p_value < 1.5 * s.verdict.looks[-1].level  # it came close


def _short_of_passing(seq: Judge, gains: list[float], new: int) -> list[float]:
    """`new` equal gains for the next pairs, as large as leaves the look they complete unpassed
    (bisected; a loss, once the pairs before are too good to fail otherwise)."""
    lo, hi = -1.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        cand, parent = pair(seq, [*gains, *[mid] * new])
        state = seq._looks(cand, parent, seq.noise({1: parent, 2: cand}))
        lo, hi = (lo, mid) if state.decision in ("pass", "small") else (mid, hi)
    return [lo] * new


def _null_accepts(j: Judge, runs: int, per_run: int, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    outcomes = [o for _ in range(runs) for o in simulate_run(j, rng, per_run, 0.0)]
    assert all(o.pairs <= j.design.cap for o in outcomes)
    return sum(o.accepted for o in outcomes), len(outcomes)


def test_null_candidates_are_not_accepted_more_often_than_alpha():
    """Seeded: 600 null candidates at alpha 0.05 (the bound: 30 expected) through the real
    judge, in runs of 10 sharing a pool. The tolerance (2.5 standard errors) is one that the
    same looks without spending (each at alpha) fail."""
    seq = judge(confirm_max=6, alpha=0.05)
    bound = 0.05 * 600 + 2.5 * (600 * 0.05 * 0.95) ** 0.5
    accepted, n = _null_accepts(seq, 60, 10, seed=11)
    assert n == 600 and accepted <= bound
    naive = judge(confirm_max=6, alpha=0.05)
    naive.design = replace(naive.design, levels=(0.05,) * 3)  # "just test again at alpha"
    assert _null_accepts(naive, 60, 10, seed=11)[0] > bound


# -- settings and records ------------------------------------------------------------------------

@pytest.mark.parametrize(("cap", "message"), [
    (1, "the cap of fresh pairs must be at least seeds.confirm (2)"),
    (100, "at most 99 fresh pairs per candidate"),
    ("six", "valid integer"),
])
def test_a_bad_cap_in_task_toml_is_a_clear_error(cap, message):
    with pytest.raises(TaskError) as err:
        load_task("tiny-lm", {"seeds.confirm_max": cap})
    assert "field 'seeds.confirm_max'" in str(err.value) and message in str(err.value)
    with pytest.raises(TaskError, match="seeds.confirm_spending"):
        load_task("tiny-lm", {"seeds.confirm_spending": "bonferroni"})
    with pytest.raises(ValueError, match="at least"):
        judge(confirm_max=1)
    spec = load_task("tiny-lm", {"seeds.confirm_max": 6}).spec.seeds
    assert spec.confirm_max == 6 and spec.confirm_spending == "obrien-fleming"
    assert load_task("tiny-lm").spec.seeds.confirm_max is None  # the fixed test by default


def test_a_fixed_confirmation_is_stored_as_before_and_an_old_verdict_reads_back(tmp_path):
    fixed = step(judge(), (0.15, 0.16), task_seeds=True).verdict
    assert "looks" not in fixed.to_json() and fixed.look is None
    old = {"parent": 1, "stage": "confirm", "screen_gain": 0.1, "seeds": [1000200, 1000201],
           "effect": 0.1, "ci95": [0.061, 0.139], "effect_pct": 3.33, "ci95_pct": [2.03, 4.63],
           "p_value": 0.0031, "alpha": 0.02, "sigma": 0.0123, "df": 5, "passed": True}
    v = verdict_from_json(old)
    assert isinstance(v, ConfirmVerdict) and v.looks is None and v.look is None
    assert json.dumps(v.to_json()) == json.dumps(old)


def test_a_sequential_verdict_round_trips_through_a_run_database(tmp_path):
    seq = judge(confirm_max=6)
    gains = (0.051, 0.043, 0.046, 0.050, 0.045, 0.048)
    v = step(seq, gains, task_seeds=True).verdict
    store = RunStore.create(tmp_path / "run", {"task": "t"})
    base = store.add_node(None, None, {"train.py": "x = 1\n"})
    n = store.add_node(base.id, Idea(title="a change"), {"train.py": "x = 2\n"})
    store.decide(n.id, NodeStatus.ACCEPTED, "accepted", v)
    store.close()
    store = RunStore.open(tmp_path / "run", readonly=True)
    back = store.node(n.id).verdict
    store.close()
    assert back == v and back.looks[0] == Look(2, seq.design.levels[0], v.looks[0].p_value,
                                               pytest.approx(0.047), "continue",
                                               v.looks[0].conditional_power)
    assert back.to_json()["looks"][2]["decision"] == "pass"
    assert "conditional_power" not in back.to_json()["looks"][2]  # none at the cap


# -- the loop's view: waiting for earlier nodes, and the value function's forecasts --------------

def test_a_later_node_waits_while_an_earlier_one_is_still_promising():
    seq = judge(confirm_max=6)
    cand, parent = pair(seq, (0.051, 0.043))  # node 2: promising at look 1
    third = node(3, {1: 2.9, **{confirmation_seed(3, j): 2.95 for j in range(2)}}, 1)
    parent = node(1, {**parent.values("m"), **{confirmation_seed(3, j): 3.0 for j in range(2)}},
                  status=NodeStatus.ACCEPTED)
    nodes = {1: parent, 2: cand, 3: third}
    # its pairs are all in, but its look asks for more: they would change node 3's pool
    assert seq.unsettled(third, nodes) is cand
    assert seq.forecast_seeds(cand, nodes) == FRESH[:6]  # the value function forecasts the cap
    gone = node(2, cand.values("m"), 1, status=NodeStatus.REJECTED)
    assert seq.unsettled(third, {**nodes, 2: gone}) is None
    # with the fixed test, a node whose pairs are in is settled
    assert judge().unsettled(third, nodes) is None


def test_the_value_function_leaves_a_node_that_passed_early_alone():
    seq = judge(confirm_max=6, spending="pocock")
    cand, parent = pair(seq, (0.15, 0.16))  # passes at look 1: completing its task seeds
    nodes = {1: parent, 2: cand}
    assert seq.next_step(cand, parent, seq.noise(nodes)).reason == "complete"
    assert seq.forecast_seeds(cand, nodes) == FRESH[:2]
