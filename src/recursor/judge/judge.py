"""The judge: what a node needs next, and when the evidence decides it.

Nothing is called an improvement that the judge did not accept. The procedure, for a candidate
and its parent on the task's seeds s0, s1, ..., sk:

1. screen: run s0. Not better than the parent on s0 -> rejected (cheap, and it is a paired
   comparison, so the seed's own luck cancels).
2. confirm: run s1..sk, the *fresh* seeds. Only they enter the test, so the screen's selection
   (we confirm only what looked good on s0) does not bias it. While seeds are missing, a
   candidate that is already worse beyond noise on the fresh seeds is rejected early.
3. decide: one-sided paired t-test of the fresh improvements against zero, with the run's pooled
   noise (see `stats`), at level alpha. Accepted when p < alpha and the mean improvement is at
   least the task's `min_effect`. The verdict records the effect, its 95% interval, the p-value,
   the seeds and the noise used.

Every accepted node has run all seeds, so any node that can be a parent pairs with its children
on every seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from recursor.judge.stats import Pooled, paired_test, pool
from recursor.store.records import EvalStatus, Node, NodeStatus

Action = Literal["run", "accept", "reject", "fail"]


@dataclass(frozen=True)
class Step:
    action: Action
    seeds: tuple[int, ...] = ()
    reason: str = ""
    verdict: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True)
class JudgeConfig:
    alpha: float = 0.05  # one-sided level of each confirmation test
    min_effect: float = 0.0  # smallest improvement worth accepting, in metric units


class Judge:
    def __init__(self, metric: str, minimize: bool, seeds: Iterable[int], config: JudgeConfig):
        self.metric = metric
        self.minimize = minimize
        self.seeds = tuple(seeds)
        self.config = config

    def improvement(self, parent_value: float, value: float) -> float:
        """Positive when `value` is better than `parent_value`."""
        return parent_value - value if self.minimize else value - parent_value

    # -- noise -----------------------------------------------------------------------------

    def noise(self, nodes: Mapping[int, Node]) -> Pooled:
        """The run's pooled spread of paired differences (see `stats.pool`)."""
        baseline = next(n for n in nodes.values() if n.is_baseline)
        groups = []
        for node in nodes.values():
            if node.is_baseline or node.parent_id not in nodes:
                continue
            fresh = self._fresh_improvements(node, nodes[node.parent_id])
            if len(fresh) >= 2:
                groups.append(fresh)
        return pool(list(baseline.values(self.metric).values()), groups)

    def _fresh_improvements(self, node: Node, parent: Node) -> list[float]:
        mine, theirs = node.values(self.metric), parent.values(self.metric)
        return [self.improvement(theirs[s], mine[s]) for s in self.seeds[1:]
                if s in mine and s in theirs]

    # -- decisions -------------------------------------------------------------------------

    def next_step(self, node: Node, parent: Node | None, noise: Pooled | None) -> Step:
        failed = [e for e in node.evaluations
                  if e.evaluation == self.metric and e.status is EvalStatus.FAILED]
        if failed:
            e = failed[0]
            return Step("fail", reason=f"seed {e.seed}: {e.reason}")
        values = node.values(self.metric)
        if parent is None:
            return self._baseline_step(values)
        if parent.status is not NodeStatus.ACCEPTED:
            raise ValueError(f"node {node.id}'s parent {parent.id} is not accepted")
        theirs = parent.values(self.metric)
        screen = self.seeds[0]
        if screen not in values:
            return Step("run", (screen,), "screen")
        screen_gain = self.improvement(theirs[screen], values[screen])
        if screen_gain <= 0:
            return Step(
                "reject",
                reason=(f"screen: not better than node {parent.id} on seed {screen} "
                        f"({self._signed(screen_gain)})"),
                verdict={"parent": parent.id, "stage": "screen", "screen_gain": screen_gain},
            )
        fresh_seeds = [s for s in self.seeds[1:] if s in values]
        missing = tuple(s for s in self.seeds[1:] if s not in values)
        gains = [self.improvement(theirs[s], values[s]) for s in fresh_seeds]
        if noise is None:
            raise ValueError("the judge needs the run's noise estimate to confirm")
        if missing:
            if len(gains) >= 2:
                test = paired_test(gains, noise)
                if test.upper95 < 0:
                    return Step("reject", reason=(
                        f"confirm: worse than node {parent.id} on {len(gains)} fresh seeds "
                        f"beyond noise (mean {self._signed(test.mean)}, upper bound "
                        f"{self._signed(test.upper95)})"),
                        verdict=self._verdict(parent, screen_gain, fresh_seeds, test))
            return Step("run", missing, "confirm")
        test = paired_test(gains, noise)
        verdict = self._verdict(parent, screen_gain, fresh_seeds, test)
        alpha, floor = self.config.alpha, self.config.min_effect
        summary = (f"{self._signed(test.mean)} vs node {parent.id} on {test.n} fresh seeds, "
                   f"95% CI [{test.ci95[0]:+.4g}, {test.ci95[1]:+.4g}], p={test.p_value:.3g}")
        if test.p_value < alpha and test.mean >= floor:
            return Step("accept", reason=f"better beyond noise: {summary}", verdict=verdict)
        why = (f"p >= {alpha:g}" if test.p_value >= alpha
               else f"effect below the task's min_effect {floor:g}")
        return Step("reject", reason=f"not proven better ({why}): {summary}", verdict=verdict)

    def _baseline_step(self, values: dict[int, float]) -> Step:
        missing = tuple(s for s in self.seeds if s not in values)
        if missing:
            return Step("run", missing, "baseline")
        vals = [values[s] for s in self.seeds]
        mean = sum(vals) / len(vals)
        std = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5
        return Step("accept", reason=f"baseline: {mean:.4f} ± {std:.4f} over {len(vals)} seeds",
                    verdict={"stage": "baseline", "mean": mean, "std": std, "n": len(vals)})

    def _verdict(self, parent: Node, screen_gain: float, seeds: list[int], test) -> dict[str, Any]:
        parent_mean = parent.mean(self.metric)
        return {
            "parent": parent.id,
            "stage": "confirm",
            "screen_gain": screen_gain,
            "seeds": seeds,
            "effect": test.mean,
            "ci95": list(test.ci95),
            "effect_pct": 100 * test.mean / abs(parent_mean) if parent_mean else None,
            "p_value": test.p_value,
            "alpha": self.config.alpha,
            "sigma": test.sigma,
            "df": test.df,
        }

    def _signed(self, gain: float) -> str:
        word = "better" if gain > 0 else "worse" if gain < 0 else "no change"
        return f"{abs(gain):.4g} {self.metric} {word}"
