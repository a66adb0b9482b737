"""The confirmation-stage forecast: whether a node's paired test can still pass."""

from __future__ import annotations

import numpy as np
import pytest

from recursor.judge.stats import Pooled, paired_test
from recursor.value.futility import confirm_forecast
from recursor.value.model import Forecast

SIGMA = 0.02  # the run's paired spread
BAR = 0.035  # the mean improvement the test needs


def diff(gain: float, sd: float = 0.005, progress: float = 0.5) -> Forecast:
    """A forecast of a pair's final difference (loss: candidate minus parent = -gain)."""
    return Forecast(progress, -gain, sd, 20, 30)


def test_before_any_fresh_pair_no_futility_look():
    assert confirm_forecast(0.01, [], [], 2, SIGMA, BAR, minimize=True) is None


def test_between_pairs_a_level_first_pair_gives_a_near_null_up():
    # the first fresh pair ended level, the second has not started: nothing is running
    cf = confirm_forecast(0.005, [0.0], [], 1, SIGMA, BAR, minimize=True, df=30)
    assert cf.progress == 1.0 and cf.dof == 30 and cf.p_pass < 0.02
    # a first pair well beyond the bar keeps it going
    assert confirm_forecast(0.005, [0.05], [], 1, SIGMA, BAR, minimize=True).p_pass > 0.02


def test_a_near_null_is_forecast_to_fail_once_a_fresh_seed_says_so():
    # screen just passed; the first fresh pair is forecast to end level; the second not started
    cf = confirm_forecast(0.005, [], [diff(0.0)], 1, SIGMA, BAR, minimize=True)
    assert cf.mean == pytest.approx((0.0 + (0.005 / SIGMA**2) / (1 / SIGMA**2 + 1 /
                                     (SIGMA**2 + 0.005**2))) / 2, rel=0.2)
    assert cf.p_pass < 0.02
    # the same node with a screen far beyond the bar is not given up
    assert confirm_forecast(0.2, [], [diff(0.0)], 1, SIGMA, BAR, minimize=True).p_pass > 0.02


def test_a_clear_winner_is_forecast_to_pass():
    cf = confirm_forecast(0.08, [0.07], [diff(0.09)], 0, SIGMA, BAR, minimize=True)
    assert cf.p_pass > 0.99
    lo, hi = cf.interval
    assert lo < cf.mean < hi


def test_direction_follows_the_metric():
    down = confirm_forecast(0.0, [], [diff(0.0)], 1, SIGMA, BAR, minimize=True)
    # a metric to maximize: a forecast difference of +0.05 is a gain
    up = confirm_forecast(0.0, [], [Forecast(0.5, 0.05, 0.005, 20, 30)], 1, SIGMA, BAR,
                          minimize=False)
    assert up.mean > down.mean and up.p_pass > down.p_pass


def test_futility_stops_are_rarely_wrong_when_the_forecasts_are_honest():
    """Simulated nodes, true effects from null to clearly better, each seed's pair ending at
    effect + noise; a forecast of the first fresh pair with an honest error. Of the nodes whose
    P(pass) falls below 0.02, few would have passed the real test."""
    rng = np.random.default_rng(7)
    noise = Pooled(SIGMA**2, 30)
    wrong = stopped = would_pass = 0
    for _ in range(4000):
        effect = rng.choice([0.0, 0.0, 0.01, 0.02, 0.04])
        d = effect + rng.normal(0, SIGMA, 3)  # screen, fresh 1, fresh 2
        if d[0] <= 0:
            continue  # rejected at the screen
        sd = 0.006
        seen = d[1] + rng.normal(0, sd)  # the forecast of the first fresh pair
        cf = confirm_forecast(d[0], [], [diff(seen, sd)], 1, SIGMA, BAR, minimize=True)
        passes = paired_test([d[1], d[2]], noise).p_value < 0.02
        would_pass += passes
        if cf.p_pass < 0.02:
            stopped += 1
            wrong += passes
    assert stopped > 200  # it does stop a good share of the nodes in confirmation
    assert wrong / stopped < 0.02


def test_stops_between_pairs_are_rarely_wrong():
    """The same simulation, looked at once the first fresh pair has ended (its exact gain, no
    forecast), before the second starts."""
    rng = np.random.default_rng(11)
    noise = Pooled(SIGMA**2, 30)
    wrong = stopped = 0
    for _ in range(4000):
        effect = rng.choice([0.0, 0.0, 0.01, 0.02, 0.04])
        d = effect + rng.normal(0, SIGMA, 3)
        if d[0] <= 0:
            continue
        cf = confirm_forecast(d[0], [d[1]], [], 1, SIGMA, BAR, minimize=True, df=30)
        if cf.p_pass < 0.02:
            stopped += 1
            wrong += paired_test([d[1], d[2]], noise).p_value < 0.02
    assert stopped > 300
    assert wrong / stopped < 0.02
