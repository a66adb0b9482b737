"""The judge: what a node needs next, and when the evidence decides it.

Nothing is called an improvement that the judge did not accept. For a candidate and its parent:

1. screen: run the candidate on the task's first seed s0, which the parent has already run. Not
   better than the parent there -> rejected. Cheap, and paired (same initialisation, same data
   order), so the seed's own luck mostly cancels.
2. confirm: run candidate *and parent* on `confirm` fresh seeds that no other comparison has
   used (`confirmation_seed`). Only these pairs enter the test, so the screen's selection does
   not bias it, and no two candidates share a confirmation seed: with shared seeds, a parent
   that happened to be unlucky on them would make every child look better at once, and the
   false accepts of a run would come in bursts (the simulation in tests/judge shows it).
3. decide: one-sided moderated t-test of the fresh paired improvements, with the variance
   pooled over the run (`stats.pool`: the baseline's seeds, with its `noise` seeds, and the
   fresh pairs of every node that ran them), at level `alpha`. A node's test pools only the
   nodes proposed up to it, and waits until those still running have their pairs in
   (`unsettled`): with several workers, which node ends its pairs first is timing, and a
   verdict must not depend on it. Passed when p < alpha and the mean
   improvement is at least the task's `min_effect`.
4. complete: a node that passed runs the task's remaining seeds, so that every accepted node
   has a mean on the same seeds and can be screened against as a parent. Then it is accepted,
   unless the auditor blocks it (the loop asks the auditor; the judge only weighs numbers).

False accepts across a run: each confirmation is an independent test at level alpha (fresh
seeds, fresh parent runs), so the expected number of noise candidates accepted in a run is at
most alpha times the number that reach confirmation, which the screen keeps to about half of
the nulls. With alpha = 0.02, a run of 200 null candidates expects about 2; the report states
the bound for each run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from scipy import stats

from recursor.judge.stats import TINY, PairedTest, Pooled, paired_test, pool, sample_variance
from recursor.store.records import EvalStatus, Node, NodeStatus
from recursor.store.verdicts import (
    BaselineVerdict,
    ConfirmVerdict,
    ParentFailedVerdict,
    ScreenVerdict,
    Verdict,
)

Action = Literal["run", "accept", "reject", "fail"]
FRESH_SEED_BASE = 1_000_000


def confirmation_seed(node_id: int, j: int, base: int = FRESH_SEED_BASE) -> int:
    """The j-th confirmation seed of a node: unique to it, never one of the task's seeds."""
    return base + 100 * node_id + j


@dataclass(frozen=True)
class Step:
    action: Action
    runs: tuple[tuple[int, int], ...] = ()  # (node id, seed) evaluations still needed
    reason: str = ""
    verdict: Verdict | None = field(default=None)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(seed for _, seed in self.runs)


@dataclass(frozen=True)
class JudgeConfig:
    alpha: float = 0.02  # one-sided level of each confirmation test
    min_effect: float = 0.0  # smallest improvement worth accepting, in metric units
    confirm: int = 2  # fresh seed pairs per confirmation
    fresh_base: int = FRESH_SEED_BASE  # where confirmation seeds start (see confirmation_seed)
    noise: int = 0  # seeds the baseline runs beyond the task's, only for the noise estimate


class Judge:
    def __init__(self, metric: str, minimize: bool, seeds: Iterable[int], config: JudgeConfig):
        self.metric = metric
        self.minimize = minimize
        self.seeds = tuple(seeds)
        self.config = config

    def improvement(self, parent_value: float, value: float) -> float:
        """Positive when `value` is better than `parent_value`."""
        return parent_value - value if self.minimize else value - parent_value

    def confirmation_seeds(self, node: Node) -> tuple[int, ...]:
        return tuple(confirmation_seed(node.id, j, self.config.fresh_base)
                     for j in range(self.config.confirm))

    def noise_seeds(self, baseline: Node) -> tuple[int, ...]:
        """The baseline's extra seeds: its own fresh seeds, which no candidate ever confirms on
        (the baseline has no parent), so they are fresh for every comparison too."""
        return tuple(confirmation_seed(baseline.id, j, self.config.fresh_base)
                     for j in range(self.config.noise))

    def confirmation_bar(self, noise: Pooled) -> float:
        """The least mean improvement over a node's fresh pairs that passes its test: p < alpha
        with the run's pooled noise, and at least the task's min_effect."""
        se = max(noise.sigma, TINY) / self.config.confirm ** 0.5
        return max(float(stats.t.isf(self.config.alpha, noise.df)) * se, self.config.min_effect)

    # -- noise -----------------------------------------------------------------------------

    def noise(self, nodes: Mapping[int, Node], upto: int | None = None) -> Pooled:
        """The run's pooled variance of fresh paired differences (see `stats.pool`); with
        `upto`, of the nodes proposed up to that one: the noise node `upto` is tested with."""
        baseline = next(n for n in nodes.values() if n.is_baseline)
        groups = []
        for node in nodes.values():
            if node.is_baseline or node.parent_id not in nodes:
                continue
            if upto is not None and node.id > upto:
                continue
            gains = self.fresh_improvements(node, nodes[node.parent_id])
            if len(gains) >= 2:
                groups.append(gains)
        seeds = self.seeds + self.noise_seeds(baseline)
        return pool(list(baseline.values(self.metric, seeds).values()), groups)

    def unsettled(self, node: Node, nodes: Mapping[int, Node]) -> Node | None:
        """The first node proposed before `node` whose share of the noise is not yet known:
        undecided, with fresh pairs still to run (or a screen that may lead to them). A test
        made before it is settled would pool a different noise than one made after, and which
        comes first is a matter of timing; so `node`'s decision waits for it (its runs don't)."""
        for other in sorted(nodes.values(), key=lambda n: n.id):
            if other.id >= node.id:
                return None
            if other.is_baseline or other.status is not NodeStatus.RUNNING:
                continue
            parent = nodes.get(other.parent_id)
            if parent is None:
                continue
            mine, theirs = other.values(self.metric), parent.values(self.metric)
            if not all(s in mine and s in theirs for s in self.confirmation_seeds(other)):
                return other
        return None

    def fresh_improvements(self, node: Node, parent: Node) -> list[float]:
        mine, theirs = node.values(self.metric), parent.values(self.metric)
        return [self.improvement(theirs[s], mine[s]) for s in self.confirmation_seeds(node)
                if s in mine and s in theirs]

    def task_improvements(self, node: Node, parent: Node) -> dict[int, float]:
        """Seed -> paired improvement on every task seed both have run."""
        mine = node.values(self.metric, self.seeds)
        theirs = parent.values(self.metric, self.seeds)
        return {s: self.improvement(theirs[s], mine[s]) for s in self.seeds
                if s in mine and s in theirs}

    # -- decisions -------------------------------------------------------------------------

    def next_step(self, node: Node, parent: Node | None, noise: Pooled | None) -> Step:
        failed = _failed(node, self.metric)
        if failed is not None:
            return Step("fail", reason=f"seed {failed.seed}: {failed.reason}")
        values = node.values(self.metric)
        if parent is None:
            return self._baseline_step(node, values)
        if parent.status is not NodeStatus.ACCEPTED:
            raise ValueError(f"node {node.id}'s parent {parent.id} is not accepted")
        theirs = parent.values(self.metric)
        screen = self.seeds[0]
        if screen not in values:
            return Step("run", ((node.id, screen),), "screen")
        screen_gain = self.improvement(theirs[screen], values[screen])
        if screen_gain <= 0:
            return Step(
                "reject",
                reason=(f"screen: not better than node {parent.id} on seed {screen} "
                        f"({self._signed(screen_gain)})"),
                verdict=ScreenVerdict(parent.id, screen_gain),
            )
        fresh = self.confirmation_seeds(node)
        parent_failed = _failed(parent, self.metric, fresh)
        if parent_failed is not None:
            return Step("reject", reason=(
                f"confirm: the parent, node {parent.id}, failed on confirmation seed "
                f"{parent_failed.seed} ({parent_failed.reason}); nothing to compare against"),
                verdict=ParentFailedVerdict(parent.id, screen_gain))
        # seed by seed, the parent first: with one worker, each of the candidate's runs then
        # has its parent's finished curve beside it, which the value function needs to look
        needed = tuple(run for s in fresh for run in ((parent.id, s), (node.id, s))
                       if s not in (theirs if run[0] == parent.id else values))
        if needed:
            return Step("run", needed, "confirm")
        if noise is None:
            raise ValueError("the judge needs the run's noise estimate to confirm")
        test = paired_test(self.fresh_improvements(node, parent), noise)
        verdict = self._verdict(node, parent, screen_gain, test)
        alpha, floor = self.config.alpha, self.config.min_effect
        summary = (f"{self._signed(test.mean)} vs node {parent.id} on {test.n} fresh seed "
                   f"pairs, 95% CI [{test.ci95[0]:+.4g}, {test.ci95[1]:+.4g}], "
                   f"p={test.p_value:.3g}")
        if not (test.p_value < alpha and test.mean >= floor):
            why = (f"p >= {alpha:g}" if test.p_value >= alpha
                   else f"effect below the task's min_effect {floor:g}")
            return Step("reject", reason=f"not proven better ({why}): {summary}",
                        verdict=replace(verdict, passed=False))
        # whether it passed is what the value function's futility stops are checked against
        verdict = replace(verdict, passed=True)
        missing = tuple((node.id, s) for s in self.seeds if s not in values)
        if missing:
            return Step("run", missing, "complete")
        verdict = replace(verdict, task_gains={
            str(s): g for s, g in self.task_improvements(node, parent).items()})
        return Step("accept", reason=f"better beyond noise: {summary}", verdict=verdict)

    def _baseline_step(self, node: Node, values: dict[int, float]) -> Step:
        extra = self.noise_seeds(node)
        missing = tuple((node.id, s) for s in self.seeds + extra if s not in values)
        if missing:
            return Step("run", missing, "baseline")
        vals = [values[s] for s in self.seeds]
        mean = sum(vals) / len(vals)
        std = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5
        reason = f"baseline: {mean:.4f} ± {std:.4f} over {len(vals)} seeds"
        verdict = BaselineVerdict(mean, std, len(vals))
        if extra:
            # the mean stays over the task's seeds, which every accepted node runs: comparable
            every = [values[s] for s in self.seeds + extra]
            noise_std = sample_variance(every) ** 0.5
            reason += f"; noise ± {noise_std:.4f} over {len(every)} seeds"
            verdict = replace(verdict, noise_std=noise_std, noise_n=len(every))
        return Step("accept", reason=reason, verdict=verdict)

    def _verdict(self, node: Node, parent: Node, screen_gain: float,
                 test: PairedTest) -> ConfirmVerdict:
        parent_mean = parent.mean(self.metric, self.seeds)
        return ConfirmVerdict(
            parent=parent.id,
            screen_gain=screen_gain,
            seeds=self.confirmation_seeds(node),
            effect=test.mean,
            ci95=tuple(test.ci95),
            effect_pct=100 * test.mean / abs(parent_mean) if parent_mean else None,
            ci95_pct=(tuple(100 * c / abs(parent_mean) for c in test.ci95)
                      if parent_mean else None),
            p_value=test.p_value,
            alpha=self.config.alpha,
            sigma=test.sigma,
            df=test.df,
        )

    def _signed(self, gain: float) -> str:
        word = "better" if gain > 0 else "worse" if gain < 0 else "no change"
        return f"{abs(gain):.4g} {self.metric} {word}"


def _failed(node: Node, metric: str, seeds: Iterable[int] | None = None):
    keep = None if seeds is None else set(seeds)
    return next((e for e in node.evaluations
                 if e.evaluation == metric and e.status is EvalStatus.FAILED
                 and (keep is None or e.seed in keep)), None)
