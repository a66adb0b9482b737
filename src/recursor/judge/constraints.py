"""Constraints: bounds a candidate must be shown to keep on the task's other metrics.

A task may bound any of its metrics (task.toml `[[constraints]]`): relative to the parent (peak
memory at most 10% above the parent's) or absolute (at most 2048 MB). The judge tests them the
way it tests the metric, on the same fresh seed pairs, once the metric has passed: a candidate
that is better but breaks a constraint is rejected, and the reason names the constraint.

The test is one of non-inferiority. On each fresh pair the constraint leaves a *headroom*: for a
metric to minimize, the allowed value minus the candidate's (allowed = the parent's value on the
same seed times 1 + relative, or the limit), positive when the bound is kept. The constraint
holds when the one-sided lower confidence bound of the mean headroom, at the judge's level
alpha, is at least 0: the candidate keeps the bound beyond noise. So, as with the metric, a
candidate has to show it; a bound that merely was not shown broken is not enough.

Why this does not reject every change of a noisy metric (wall time): the headroom's spread is a
moderated estimate, as the metric's is (`recursor.judge.stats`). Two pairs alone would give one
degree of freedom and a t quantile of 15.9 at alpha 0.02, and nothing could pass. The spread is
pooled from the parent's own runs of the metric (every seed it ran: the task's, the baseline's
noise seeds, the fresh seeds of its earlier children), which measure the same run-to-run noise,
with the candidate's own pairs added: against tiny-lm's baseline (its 7 seeds and the 2 fresh
ones) 9 degrees of freedom, t = 2.40. Then the allowance is the task's say in how much noise it
accepts. By simulation (tests/judge/test_constraints.py), with 10% allowed and the wall time
varying by 2% from run to run, an unchanged program keeps the constraint 97% of the time; at 3%,
77%; at 5%, 38%: an allowance of about five times the metric's run-to-run variation passes what
did not change. A program 30% slower is rejected every time, and one exactly at the bound passes
about alpha of the time (2.5% at alpha 0.02). A deterministic metric (a parameter count) has no
spread, and a candidate exactly at its bound keeps it.

The other design, rejecting only a constraint shown broken, would never reject on noise, but at
these noise levels it would let a program 15% slower through most of the time: the bound would
say little. The allowance makes the strict test usable instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scipy import stats

from recursor.judge.stats import sample_variance
from recursor.store.records import Node
from recursor.task.spec import TaskSpec


@dataclass(frozen=True)
class Constraint:
    """A bound on one metric: `relative` (a share of the parent's value) or `limit` (a value)."""

    metric: str
    minimize: bool
    relative: float | None = None
    limit: float | None = None
    unit: str = ""

    @classmethod
    def of(cls, spec: TaskSpec) -> tuple[Constraint, ...]:
        """The constraints a task declares, each with its metric's direction and unit."""
        out = []
        for c in spec.constraints:
            m = spec.metric_spec(c.metric)
            if m is None:  # TaskSpec validation names these; a spec built by hand may not
                raise ValueError(f"constraint on {c.metric!r}, which the task does not declare")
            out.append(cls(c.metric, m.direction == "minimize", c.relative, c.limit, m.unit))
        return tuple(out)

    def describe(self) -> str:
        if self.relative is not None:
            side = "above" if self.minimize else "below"
            return f"{self.metric} at most {100 * self.relative:g}% {side} the parent's"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.metric} {'at most' if self.minimize else 'at least'} {self.limit:g}{unit}"

    def headroom(self, parent: float, value: float) -> float:
        """How far `value` is inside the bound (negative: outside), the parent's being `parent`."""
        if self.relative is not None:
            factor = 1 + self.relative if self.minimize else 1 - self.relative
            allowed = parent * factor
        else:
            allowed = self.limit
        return allowed - value if self.minimize else value - allowed

    def prior_factor(self) -> float:
        """Var(headroom) / var(one run's value): the candidate's run, and the parent's scaled by
        the allowance for a relative bound; the candidate's alone against a fixed limit."""
        if self.relative is None:
            return 1.0
        factor = 1 + self.relative if self.minimize else 1 - self.relative
        return 1.0 + factor * factor


@dataclass(frozen=True)
class ConstraintTest:
    """One constraint tested on a candidate's fresh pairs."""

    constraint: Constraint
    n: int  # fresh pairs with both values
    headroom: float | None  # mean headroom (+ = inside the bound); None when nothing to test
    lower: float | None  # one-sided lower confidence bound of it at alpha
    sigma: float | None
    df: int
    held: bool
    missing: tuple[int, ...] = ()  # fresh seeds where the candidate or the parent has no value

    def describe(self) -> str:
        what = self.constraint.describe()
        if self.missing:
            return (f"{what}: not measured on fresh seed(s) "
                    f"{', '.join(str(s) for s in self.missing)}; it cannot be shown to hold")
        if self.lower is None:
            return f"{what}: too few runs to estimate its noise; it cannot be shown to hold"
        verdict = "held" if self.held else "not shown to hold"
        return (f"{what}: {verdict} on {self.n} fresh seed pairs (mean headroom "
                f"{self.headroom:+.4g}, lower bound {self.lower:+.4g})")


@dataclass(frozen=True)
class Checked:
    """Every constraint's test on one candidate."""

    tests: tuple[ConstraintTest, ...] = ()

    @property
    def broken(self) -> ConstraintTest | None:
        """The first constraint not shown to hold, if any."""
        return next((t for t in self.tests if not t.held), None)

    @property
    def reason(self) -> str:
        """Why a better candidate is rejected (with a broken constraint)."""
        broken = self.broken
        return "" if broken is None else f"constraint: {broken.describe()}"

    @property
    def note(self) -> str:
        """What an accept's reason adds: the constraints that held."""
        return "".join(f"; constraint {t.describe()}" for t in self.tests)


def constraint_test(constraint: Constraint, node: Node, parent: Node, evaluation: str,
                    seeds: Sequence[int], alpha: float) -> ConstraintTest:
    """The non-inferiority test of one constraint on the fresh `seeds` (see the module)."""
    mine = node.measured(evaluation, constraint.metric)
    theirs = parent.measured(evaluation, constraint.metric)
    missing = tuple(s for s in seeds if s not in mine or s not in theirs)
    if missing or not seeds:
        return ConstraintTest(constraint, 0, None, None, None, 0, False, missing)
    room = [constraint.headroom(theirs[s], mine[s]) for s in seeds]
    n = len(room)
    mean = sum(room) / n
    # the prior: the parent's own run-to-run spread of the metric, over every seed it ran
    ss, df = 0.0, 0
    own = list(theirs.values())
    if len(own) >= 2:
        ss += constraint.prior_factor() * sample_variance(own) * (len(own) - 1)
        df += len(own) - 1
    if n >= 2:
        ss += sample_variance(room) * (n - 1)
        df += n - 1
    if df == 0:
        return ConstraintTest(constraint, n, mean, None, None, 0, False)
    sigma = math.sqrt(ss / df)
    lower = mean - float(stats.t.isf(alpha, df)) * sigma / math.sqrt(n)
    return ConstraintTest(constraint, n, mean, lower, sigma, df, lower >= 0)


def check(constraints: Iterable[Constraint], node: Node, parent: Node, evaluation: str,
          seeds: Sequence[int], alpha: float) -> Checked:
    """Every constraint tested on `node`'s fresh pairs with `parent` (the evaluation's runs on
    `seeds`), at level `alpha`."""
    return Checked(tuple(constraint_test(c, node, parent, evaluation, seeds, alpha)
                         for c in constraints))
