"""The verdicts a node is decided with, as frozen records.

A verdict is stored in the run database as JSON (the nodes table's `verdict` column) and shown
to people by `recursor report --json`, the HTML report, MLflow's verdict.json and the discovery
library's evidence. Five kinds are written:

- `BaselineVerdict` (stage "baseline"): the baseline's mean and spread over the task's seeds,
  and with noise seeds the spread over all of them;
- `ScreenVerdict` (stage "screen"): a candidate no better than its parent on the first seed;
- `ParentFailedVerdict` (stage "confirm"): a candidate whose parent failed on one of its
  confirmation seeds, so that there was nothing to test against;
- `ConfirmVerdict` (stage "confirm"): the paired test on the fresh seeds, and whether it passed;
  with a sequential confirmation, also its `looks` (one `Look` each: pairs, level, p-value);
- `StoppedEarlyVerdict` (stage "stopped-early"): the value function's stop, on one seed run's
  forecast (scope "seed") or on the forecast of the node's paired test (scope "confirm").

`to_json` gives the dict the judge and the loop have always stored (the same keys, in the same
order, the same ones left out), so a database written before these types existed reads back to
equal values, and one written now is what older readers expect. `verdict_from_json` reads any
of them back, older ones included: keys a verdict of an earlier recursor lacks come back None
(and are left out again where they were optional then), keys it does not know are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self


def _pair(x: Any) -> tuple | None:
    return None if x is None else tuple(x)


@dataclass(frozen=True)
class BaselineVerdict:
    stage: ClassVar[str] = "baseline"
    mean: float
    std: float
    n: int  # the task's seeds, which the mean is over
    noise_std: float | None = None  # with noise seeds: the spread over the task's and those
    noise_n: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, "mean": self.mean, "std": self.std,
                               "n": self.n}
        if self.noise_std is not None:
            out.update(noise_std=self.noise_std, noise_n=self.noise_n)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BaselineVerdict:
        return cls(d["mean"], d["std"], d["n"], d.get("noise_std"), d.get("noise_n"))


@dataclass(frozen=True)
class _ParentAndGain:
    """A reject decided before any paired test: the parent and the screen's gain."""

    stage: ClassVar[str]
    parent: int
    screen_gain: float  # improvement on the first seed (+ = better)

    def to_json(self) -> dict[str, Any]:
        return {"parent": self.parent, "stage": self.stage, "screen_gain": self.screen_gain}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Self:
        return cls(d["parent"], d["screen_gain"])


@dataclass(frozen=True)
class ScreenVerdict(_ParentAndGain):
    """The screen seed said the candidate is not better (its gain <= 0)."""

    stage: ClassVar[str] = "screen"


@dataclass(frozen=True)
class ParentFailedVerdict(_ParentAndGain):
    """Stage "confirm" without a test: the parent failed on a confirmation seed."""

    stage: ClassVar[str] = "confirm"


@dataclass(frozen=True)
class Look:
    """One look of a sequential confirmation: the paired test on the fresh pairs ended so far."""

    pairs: int  # fresh pairs tested at this look
    level: float  # the nominal one-sided p-value it had to beat (the spending function's)
    p_value: float
    effect: float  # mean paired improvement over those pairs (+ = better)
    # "continue" (promising: more pairs), "pass", "futile", "cap" (not passed at the last
    # look) or "small" (passed the level, below the task's min_effect)
    decision: str
    # the chance to pass at the cap under the current trend; None at the last look
    conditional_power: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pairs": self.pairs, "level": self.level,
                               "p_value": self.p_value, "effect": self.effect,
                               "decision": self.decision}
        if self.conditional_power is not None:
            out["conditional_power"] = self.conditional_power
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Look:
        return cls(d["pairs"], d["level"], d["p_value"], d["effect"], d["decision"],
                   d.get("conditional_power"))


@dataclass(frozen=True)
class ConfirmVerdict:
    """The paired test of a candidate's fresh seeds against its parent's."""

    stage: ClassVar[str] = "confirm"
    parent: int
    screen_gain: float
    seeds: tuple[int, ...]  # the fresh confirmation seeds
    effect: float  # mean paired improvement (+ = better), in metric units
    ci95: tuple[float, float]
    effect_pct: float | None  # of the parent's mean; None when that mean is 0
    ci95_pct: tuple[float, float] | None
    p_value: float
    alpha: float
    sigma: float  # the pooled spread of paired differences the test used
    df: int
    # whether the test passed: what the value function's futility stops are checked against
    # (None in verdicts of a recursor that did not record it)
    passed: bool | None = None
    task_gains: dict[str, float] | None = None  # seed -> improvement, once accepted
    # a sequential confirmation (None: the fixed one, one test at alpha, as ever): every look
    # made, the looks planned up to the cap, and the spending function of the levels; the
    # fields above are the last look's test, `alpha` what all the looks spend together
    looks: tuple[Look, ...] | None = None
    planned_looks: int | None = None
    spending: str | None = None

    @property
    def look(self) -> int | None:
        """The look (1-based) that decided; None for a fixed confirmation."""
        return None if self.looks is None else len(self.looks)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "parent": self.parent,
            "stage": self.stage,
            "screen_gain": self.screen_gain,
            "seeds": list(self.seeds),
            "effect": self.effect,
            "ci95": list(self.ci95),
            "effect_pct": self.effect_pct,
            "ci95_pct": None if self.ci95_pct is None else list(self.ci95_pct),
            "p_value": self.p_value,
            "alpha": self.alpha,
            "sigma": self.sigma,
            "df": self.df,
        }
        if self.passed is not None:
            out["passed"] = self.passed
        if self.task_gains is not None:
            out["task_gains"] = dict(self.task_gains)
        if self.looks is not None:  # left out of a fixed confirmation's, as before
            out.update(looks=[look.to_json() for look in self.looks],
                       planned_looks=self.planned_looks, spending=self.spending)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ConfirmVerdict:
        gains, looks = d.get("task_gains"), d.get("looks")
        return cls(d["parent"], d["screen_gain"], tuple(d["seeds"]), d["effect"],
                   _pair(d["ci95"]), d.get("effect_pct"), _pair(d.get("ci95_pct")),
                   d["p_value"], d["alpha"], d["sigma"], d["df"], d.get("passed"),
                   None if gains is None else dict(gains),
                   None if looks is None else tuple(Look.from_json(x) for x in looks),
                   d.get("planned_looks"), d.get("spending"))


@dataclass(frozen=True)
class StoppedEarlyVerdict:
    """The value function's stop: the forecast it was made on, and the level it fell below."""

    stage: ClassVar[str] = "stopped-early"
    scope: str | None  # "seed" or "confirm"; None in stops of a recursor before test looks
    parent: int
    evaluation: int  # the run whose look stopped the node
    progress: float
    step: int | None
    predicted_difference: float  # final difference, candidate minus parent
    interval90: tuple[float, float]
    risk: float  # the stop level
    pairs: int
    p_better: float | None = None  # scope seed: P(better than the parent on the seed)
    p_pass: float | None = None  # scope confirm: P(the paired test passes)
    bar: float | None = None  # scope confirm: the mean improvement the test needs
    effect_spread: float | None = None  # scope confirm: the prior's spread (None: flat)
    pairs_ended: tuple[int, int] | None = None  # a look between pairs: (ended, in all)
    during: str | None = None  # "screen": a test look made while the screen ran

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage}
        if self.scope is not None:
            out["scope"] = self.scope
        out.update(parent=self.parent, evaluation=self.evaluation, progress=self.progress,
                   step=self.step, predicted_difference=self.predicted_difference,
                   interval90=list(self.interval90), risk=self.risk, pairs=self.pairs)
        if self.scope == "confirm":
            out.update(p_pass=self.p_pass, bar=self.bar, effect_spread=self.effect_spread)
            if self.pairs_ended:
                out["pairs_ended"] = list(self.pairs_ended)
            if self.during:
                out["during"] = self.during
            return out
        out["p_better"] = self.p_better
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StoppedEarlyVerdict:
        return cls(d.get("scope"), d["parent"], d["evaluation"], d["progress"], d.get("step"),
                   d["predicted_difference"], _pair(d["interval90"]), d["risk"], d["pairs"],
                   d.get("p_better"), d.get("p_pass"), d.get("bar"), d.get("effect_spread"),
                   _pair(d.get("pairs_ended")), d.get("during"))


Verdict = (BaselineVerdict | ScreenVerdict | ParentFailedVerdict | ConfirmVerdict
           | StoppedEarlyVerdict)


def verdict_from_json(d: Mapping[str, Any] | None) -> Verdict | None:
    """The verdict a stored dict describes; None for none (a node decided without one)."""
    if not d:
        return None
    stage = d.get("stage")
    if stage == "baseline":
        return BaselineVerdict.from_json(d)
    if stage == "screen":
        return ScreenVerdict.from_json(d)
    if stage == "confirm":
        # the judge writes a confirm verdict without a test only when the parent failed
        return (ConfirmVerdict.from_json(d) if "effect" in d
                else ParentFailedVerdict.from_json(d))
    if stage == "stopped-early":
        return StoppedEarlyVerdict.from_json(d)
    raise ValueError(f"a verdict of unknown stage {stage!r}: {dict(d)}")
