"""The value function's forecasts: what a user relies on when a run stops an experiment."""

from __future__ import annotations

import numpy as np
import pytest

from recursor.value import Curve, Pair, PairedCurveModel, StopRule, StopSettings
from recursor.value.curves import GRID, looked_at, readings
from recursor.value.model import MIN_PAIRS

PROGRESS = np.linspace(0.02, 1.0, 50)


def loss_curve(rng, scale=1.0, floor=2.0, noise=0.02):
    return floor + scale * 3.0 * PROGRESS ** -0.5 / 10 + rng.normal(0, noise, PROGRESS.size)


def make_pair(rng, gap, late=0.0, truth_noise=0.01):
    """A candidate whose loss sits `gap` above its parent's (closing by `late` at the end);
    its final metric difference is what that gap becomes, plus the evaluation's own noise."""
    parent = loss_curve(rng)
    shape = gap - late * PROGRESS ** 2
    candidate = parent + shape + rng.normal(0, 0.02, PROGRESS.size)
    diff = 1.4 * shape[-1] + rng.normal(0, truth_noise)
    return Pair(Curve(PROGRESS, candidate), Curve(PROGRESS, parent), diff)


def cut(curve: Curve, f: float) -> Curve:
    keep = curve.progress <= f
    return Curve(curve.progress[keep], curve.values[keep])


def test_no_forecast_before_enough_runs_have_finished():
    rng = np.random.default_rng(0)
    pairs = [make_pair(rng, g) for g in rng.normal(0, 0.2, MIN_PAIRS - 1)]
    new = make_pair(rng, 0.5)
    assert PairedCurveModel(pairs).forecast(cut(new.candidate, 0.5), new.reference) is None
    more = PairedCurveModel(pairs + [make_pair(rng, 0.1)])
    assert more.forecast(cut(new.candidate, 0.5), new.reference) is not None


def test_forecasts_are_calibrated_on_runs_it_has_not_seen():
    rng = np.random.default_rng(1)
    train = [make_pair(rng, g, late=rng.uniform(0, 0.1)) for g in rng.normal(0, 0.3, 40)]
    model = PairedCurveModel(train)
    inside, errors = 0, []
    tests = [make_pair(rng, g, late=rng.uniform(0, 0.1)) for g in rng.normal(0, 0.3, 200)]
    for t in tests:
        f = model.forecast(cut(t.candidate, 0.5), t.reference)
        lo, hi = f.interval
        inside += lo <= t.difference <= hi
        errors.append(abs(f.mean - t.difference))
    assert 0.8 <= inside / len(tests) <= 0.99  # a 90% interval, checked on 200 new runs
    assert np.mean(errors) < 0.1  # the differences themselves spread over ~0.4


def test_a_clearly_worse_candidate_is_stopped_and_a_close_one_is_not():
    rng = np.random.default_rng(2)
    model = PairedCurveModel([make_pair(rng, g) for g in rng.normal(0, 0.3, 30)])
    rule = StopRule(StopSettings(risk=0.02, audit=0.0), minimize=True)
    doomed, close = make_pair(rng, 0.8), make_pair(rng, 0.01)
    f_doomed = model.forecast(cut(doomed.candidate, 0.3), doomed.reference)
    f_close = model.forecast(cut(close.candidate, 0.3), close.reference)
    assert rule.decide(f_doomed, 1, 0.02) == "stop"
    assert rule.decide(f_close, 2, 0.02) == "continue"
    # maximising the metric, the same forecast is a sure winner, never stopped
    assert StopRule(StopSettings(audit=0.0), minimize=False).decide(f_doomed, 1, 0.02) == \
        "continue"


def test_heavy_tailed_history_widens_the_interval():
    rng = np.random.default_rng(3)
    calm = [make_pair(rng, g) for g in rng.normal(0, 0.3, 40)]
    wild = [make_pair(rng, g, truth_noise=0.01 if i % 5 else 0.4)
            for i, g in enumerate(rng.normal(0, 0.3, 40))]
    new = make_pair(rng, 0.2)
    a = PairedCurveModel(calm).forecast(cut(new.candidate, 0.5), new.reference)
    b = PairedCurveModel(wild).forecast(cut(new.candidate, 0.5), new.reference)
    assert b.interval[1] - b.interval[0] > 3 * (a.interval[1] - a.interval[0])


def test_curves_are_read_at_equal_progress_whatever_the_step_count():
    few = Curve(np.array([0.1, 0.5, 1.0]), np.array([5.0, 3.0, 2.0]))  # large steps
    assert few.at(0.3) == pytest.approx(4.0)  # between two points: the line through them
    assert few.at(0.5) == pytest.approx(3.0)  # a point in the window
    assert few.at(1.0) == pytest.approx(2.0)
    partial = Curve(np.array([0.1, 0.2, 0.3]), np.array([5.0, 4.0, 3.5]))
    assert partial.at(0.5) is None  # nothing is read past where the run has got to
    assert looked_at(0.37) == 0.35 and looked_at(0.05) is None
    assert GRID[0] == 0.1 and GRID[-1] == 1.0
    points = [{"progress": 0.1, "train_loss": 3.0, "step": 5}, {"train_loss": 2.0},
              {"progress": 0.2, "train_loss": float("nan")}, {"progress": 0.3, "train_loss": 2.5}]
    read = Curve.from_points(points, "train_loss")
    assert list(read.progress) == [0.1, 0.3] and read.step == 5


def test_a_curve_read_late_is_read_at_every_grid_point_it_passed():
    points = [{"progress": p, "train_loss": 5.0 - p, "step": i}
              for i, p in enumerate((0.04, 0.45, 0.47, 0.86, 0.98))]
    seen = readings(points, "train_loss", reference_reached=1.0)
    # one reading per grid point passed (none before the first), each the curve as it stood
    # there (up to its last point read at that grid point), with that point's step
    assert [(c.reached, c.step) for c in seen] == [(0.47, 2), (0.86, 3), (0.98, 4)]
    assert [looked_at(c.reached) for c in seen] == [0.45, 0.85, 0.95]
    # those looked at already are not read again
    assert [c.reached for c in readings(points, "train_loss", 1.0, after=0.45)] == [0.86, 0.98]
    assert readings(points, "train_loss", 1.0, after=0.95) == []
    # the reference that has got less far holds the readings back
    assert [c.reached for c in readings(points, "train_loss", 0.5, after=0.0)] == [0.47, 0.98]


def test_seeds_of_one_program_count_once():
    """Five seeds of one idea are not five ideas: the model is no surer for having them."""
    rng = np.random.default_rng(4)
    programs = [(g, rng.uniform(0, 0.1)) for g in rng.normal(0, 0.3, 10)]

    def seeds_of(k: int, g: float, late: float, n: int) -> list[Pair]:
        return [Pair(p.candidate, p.reference, p.difference, k)
                for p in (make_pair(rng, g, late=late, truth_noise=0.005) for _ in range(n))]

    few = [make_pair(rng, g) for g in (0.1, -0.2, 0.3)]
    many_seeds = [Pair(p.candidate, p.reference, p.difference, k)
                  for k, p in enumerate(few) for _ in range(10)]
    new = make_pair(rng, 0.2)
    assert PairedCurveModel(many_seeds).forecast(cut(new.candidate, 0.5), new.reference) is None

    one = [q for k, (g, late) in enumerate(programs) for q in seeds_of(k, g, late, 1)]
    five = [q for k, (g, late) in enumerate(programs) for q in seeds_of(k, g, late, 5)]
    a = PairedCurveModel(one).forecast(cut(new.candidate, 0.5), new.reference)
    b = PairedCurveModel(five).forecast(cut(new.candidate, 0.5), new.reference)
    assert a.dof == b.dof == 10 - 3
    width = lambda f: f.interval[1] - f.interval[0]  # noqa: E731
    assert width(b) > 0.6 * width(a)


def test_a_forecast_never_learns_from_its_own_programs_finished_runs():
    # the same program finished in an earlier run, ending far off what its curve said: a model
    # that learned from it would know the answer (and its calibration would measure memory)
    rng = np.random.default_rng(7)
    others = [make_pair(rng, g, late=rng.uniform(0, 0.1)) for g in rng.normal(0, 0.3, 12)]
    running = make_pair(rng, 0.2)
    own = [Pair(running.candidate, running.reference, running.difference - 0.5, group="mine")
           for _ in range(3)]
    model = PairedCurveModel(others + own)
    seen = model.forecast(cut(running.candidate, 0.5), running.reference)
    blind = model.forecast(cut(running.candidate, 0.5), running.reference, program="mine")
    alone = PairedCurveModel(others).forecast(cut(running.candidate, 0.5), running.reference)
    assert (blind.mean, blind.sd, blind.pairs) == (alone.mean, alone.sd, alone.pairs)
    assert abs(seen.mean - blind.mean) > 0.05  # its own runs would have moved the forecast
    # a program the model has not seen gets the shared fit
    other = model.forecast(cut(running.candidate, 0.5), running.reference, program="new")
    assert (other.mean, other.pairs) == (seen.mean, seen.pairs)
