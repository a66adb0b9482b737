"""The stop rule's settings, its audits, and how it grows careful when its stops prove wrong."""

from __future__ import annotations

import pytest

from recursor.value import AuditOutcome, StopRule, StopSettings
from recursor.value.stopper import audited


def outcomes(wrong: int, right: int) -> list[AuditOutcome]:
    return ([AuditOutcome(i, +0.01, False) for i in range(wrong)]
            + [AuditOutcome(100 + i, -0.2, False) for i in range(right)])


def test_the_stop_level_tightens_when_audited_stops_prove_wrong():
    rule = StopRule(StopSettings(risk=0.04, target=0.10), minimize=True)
    assert rule.risk_now([]) == 0.04
    assert rule.risk_now(outcomes(1, 9)) == 0.04  # 10%: at the target
    assert rule.risk_now(outcomes(2, 8)) == 0.02  # one wrong stop beyond it: halved
    assert rule.risk_now(outcomes(4, 6)) == 0.005  # three beyond: halved three times
    assert rule.risk_now(outcomes(0, 30)) == 0.04


def test_a_share_of_would_be_stops_is_audited_and_the_draw_is_stable():
    ids = range(1, 20001)
    share = sum(audited(i, 0.2) for i in ids) / len(ids)
    assert share == pytest.approx(0.2, abs=0.01)
    assert [audited(i, 0.2) for i in range(50)] == [audited(i, 0.2) for i in range(50)]
    assert not any(audited(i, 0.0) for i in ids)


def test_bad_settings_are_refused_with_the_value():
    with pytest.raises(ValueError, match="0.7"):
        StopSettings(risk=0.7)
    with pytest.raises(ValueError, match="audit"):
        StopSettings(audit=1.5)


def test_a_futility_stop_is_wrong_when_the_test_passed_whatever_the_seed_said():
    # its mean improvement was positive, yet below the test's bar: a right futility stop
    assert not AuditOutcome(1, +0.01, False, scope="confirm", passed=False).wrong
    assert AuditOutcome(2, +0.05, True, scope="confirm", passed=True).wrong
    rule = StopRule(StopSettings(risk=0.04, test_risk=0.08, target=0.10), minimize=True)
    right = [AuditOutcome(i, +0.01, False, "confirm", False) for i in range(5)]
    wrong = [AuditOutcome(i, +0.05, True, "confirm", True) for i in range(2)]
    assert rule.risk_now(right, "confirm") == 0.08
    assert rule.risk_now(wrong, "confirm") < 0.08


def test_each_look_tightens_on_its_own_audits():
    rule = StopRule(StopSettings(risk=0.04, test_risk=0.08, target=0.10), minimize=True)
    wrong_tests = [AuditOutcome(i, +0.05, True, "confirm", True) for i in range(3)]
    assert rule.risk_now(wrong_tests, "confirm") == 0.01
    assert rule.risk_now(wrong_tests, "seed") == 0.04  # the per-seed look was not wrong
    assert rule.risk_now(outcomes(4, 6), "seed") == 0.005
    assert rule.risk_now(outcomes(4, 6), "confirm") == 0.08
    with pytest.raises(ValueError, match="test risk"):
        StopSettings(test_risk=0.0)


def test_a_forecast_is_stopped_on_only_at_its_second_look_below_the_level():
    from recursor.value.stopper import Streaks

    rule = StopRule(StopSettings(risk=0.05, audit=0.0), minimize=True)
    streaks = Streaks()
    # one outlying reading, then the curve back where it was: no stop
    assert rule.decide_on(0.01, 0.5, 1, 0.05, streaks.add(1, 0.01, 0.05)) == "continue"
    assert rule.decide_on(0.30, 0.55, 1, 0.05, streaks.add(1, 0.30, 0.05)) == "continue"
    assert rule.decide_on(0.01, 0.6, 1, 0.05, streaks.add(1, 0.01, 0.05)) == "continue"
    assert rule.decide_on(0.02, 0.65, 1, 0.05, streaks.add(1, 0.02, 0.05)) == "stop"
    # each run (or node) has its own streak; a look on finished runs needs none
    assert rule.decide_on(0.01, 0.5, 2, 0.05, streaks.add(2, 0.01, 0.05)) == "continue"
    assert rule.decide_on(0.01, 1.0, 3, 0.05) == "stop"
    assert StopRule(StopSettings(risk=0.05, audit=0.0, looks=1), True).decide_on(
        0.01, 0.5, 4, 0.05, 1) == "stop"
    with pytest.raises(ValueError, match="looks"):
        StopSettings(looks=0)


def test_the_cli_the_api_and_the_run_config_default_to_the_rules_levels():
    # `recursor run --help`, `recursor.run` and a RunConfig built by hand stop at the same levels
    import inspect

    from recursor import api
    from recursor.cli import app
    from recursor.loop.config import RunConfig

    rule = StopSettings()
    config = RunConfig.__dataclass_fields__
    for function in (api.run, app.run):
        given = inspect.signature(function).parameters
        assert given["stop_risk"].default == config["stop_risk"].default == rule.risk
        assert given["stop_test_risk"].default == config["stop_test_risk"].default == rule.test_risk
        assert given["stop_audit"].default == config["stop_audit"].default == rule.audit
