"""Telling a changed learning-rate schedule from a scaled one, as the value function must before
it trusts a partial curve (recursor.value.curves.schedule_departs)."""

from __future__ import annotations

import numpy as np

from recursor.value.curves import Curve, schedule_departs


def logged(schedule, steps: int, scale: float = 1.0) -> Curve:
    """A run of `steps` steps logging its rate every 10 steps, as tiny-lm's train.py does."""
    at = np.arange(0, steps, 10)
    progress = (at + 1) / steps
    return Curve(progress, scale * np.array([schedule(s, steps) for s in at]))


def trapezoid(step: int, total: int, cooldown: float = 0.4) -> float:
    warmup, cool = max(1, total // 20), max(1, int(cooldown * total))
    if step < warmup:
        return (step + 1) / warmup
    if step < total - cool:
        return 1.0
    return (total - step) / cool


def flat(step: int, total: int) -> float:
    return 1.0


def test_the_same_schedule_scaled_or_over_other_steps_does_not_depart():
    parent = logged(trapezoid, 1000)
    for child in (logged(trapezoid, 1000, scale=3.0), logged(trapezoid, 250),
                  logged(trapezoid, 4000, scale=0.5)):  # a larger or smaller batch
        assert not any(schedule_departs(child, parent, f) for f in (0.1, 0.5, 0.9, 1.0))


def test_a_warmup_departs_at_once_and_a_later_decay_once_it_begins():
    assert schedule_departs(logged(trapezoid, 1000), logged(flat, 1000), 0.1)
    late = logged(lambda s, t: trapezoid(s, t, cooldown=0.3), 1000)
    parent = logged(trapezoid, 1000)
    # the two decays start at 60% and 70%: nothing to tell them apart before
    assert not schedule_departs(late, parent, 0.6)
    assert schedule_departs(late, parent, 0.8)


def test_a_run_that_logs_no_rate_is_never_said_to_depart():
    none = Curve(np.array([]), np.array([]))
    assert not schedule_departs(none, logged(flat, 1000), 1.0)
    assert not schedule_departs(logged(flat, 1000), none, 1.0)


def test_a_rate_of_zero_is_its_parents_schedule_until_it_starts():
    # scaled by nothing, it keeps the parent's schedule, and a curve that learns nothing is a
    # doomed one; a rate that starts late departs once the start is logged
    parent = logged(flat, 1000)
    assert not schedule_departs(logged(flat, 1000, scale=0.0), parent, 1.0)
    late = logged(lambda s, t: float(s >= t // 2), 1000)
    assert not schedule_departs(late, parent, 0.45)
    assert schedule_departs(late, parent, 0.6)
