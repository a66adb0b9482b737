"""The judge: what a node needs next, and when the evidence decides it.

Nothing is called an improvement that the judge did not accept. For a candidate and its parent:

1. screen: run the candidate on the task's first seed s0, which the parent has already run. Not
   better than the parent there -> rejected. Cheap, and paired (same initialisation, same data
   order), so the seed's own luck mostly cancels.
2. confirm: run candidate *and parent* on `confirm` fresh seeds that no other comparison has
   used (`confirmation_seed`); with `confirm_max` above `confirm`, a promising candidate gets
   `confirm` more at each further look, up to that cap (`recursor.judge.sequential`). Only
   these pairs enter the test, so the screen's selection does not bias it, and no two
   candidates share a confirmation seed: with shared seeds, a parent that happened to be
   unlucky on them would make every child look better at once, and the false accepts of a run
   would come in bursts (the simulation in tests/judge shows it).
3. decide: one-sided moderated t-test of the fresh paired improvements, with the variance
   pooled over the run (`stats.pool`: the baseline's seeds, with its `noise` seeds, and the
   fresh pairs of every node that ran them), at level `alpha`. A node's test pools only the
   nodes proposed up to it, and waits until those still running have their pairs in
   (`unsettled`): with several workers, which node ends its pairs first is timing, and a
   verdict must not depend on it. Passed when p < alpha and the mean
   improvement is at least the task's `min_effect`. A sequential confirmation tests at each
   look at the level its spending function allows there (all the looks together spend alpha),
   gives up when even the cap is out of reach (non-binding futility), and decides at the cap.
4. complete: a node that passed runs the task's remaining seeds, so that every accepted node
   has a mean on the same seeds and can be screened against as a parent. Then it is accepted,
   unless the auditor blocks it (the loop asks the auditor; the judge only weighs numbers).

False accepts across a run: each confirmation is an independent test at level alpha (fresh
seeds, fresh parent runs; a sequential one spends alpha over its looks in all), so the expected
number of noise candidates accepted in a run is at most alpha times the number that reach
confirmation, which the screen keeps to about half of the nulls. With alpha = 0.02, a run of
200 null candidates expects about 2; the report states the bound for each run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from scipy import stats

from recursor.judge.constraints import Constraint
from recursor.judge.constraints import check as check_constraints
from recursor.judge.sequential import FUTILITY_POWER, Design, Spending
from recursor.judge.stats import (
    TINY,
    PairedTest,
    Pooled,
    paired_test,
    pool,
    regroup,
    sample_variance,
)
from recursor.store.records import EvalStatus, Node, NodeStatus
from recursor.store.verdicts import (
    BaselineVerdict,
    ConfirmVerdict,
    Look,
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
    # the step rests on a paired test made with the run's noise (a decision, or a look that
    # asks for more pairs): the loop acts on it only once the nodes before it are settled
    tested: bool = False

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(seed for _, seed in self.runs)


@dataclass(frozen=True)
class JudgeConfig:
    alpha: float = 0.02  # one-sided level of each confirmation test
    min_effect: float = 0.0  # smallest improvement worth accepting, in metric units
    confirm: int = 2  # fresh seed pairs per confirmation (per look, when sequential)
    # the cap of a sequential confirmation's fresh pairs; None: `confirm`, one look at alpha
    confirm_max: int | None = None
    spending: Spending = "obrien-fleming"  # how a sequential confirmation spends alpha
    fresh_base: int = FRESH_SEED_BASE  # where confirmation seeds start (see confirmation_seed)
    noise: int = 0  # seeds the baseline runs beyond the task's, only for the noise estimate
    constraints: tuple[Constraint, ...] = ()  # bounds on other metrics (judge.constraints)


class Judge:
    def __init__(self, metric: str, minimize: bool, seeds: Iterable[int], config: JudgeConfig):
        self.metric = metric
        self.minimize = minimize
        self.seeds = tuple(seeds)
        self.config = config
        self.design = Design.of(config.alpha, config.confirm, config.confirm_max,
                                config.spending)

    def improvement(self, parent_value: float, value: float) -> float:
        """Positive when `value` is better than `parent_value`."""
        return parent_value - value if self.minimize else value - parent_value

    def confirmation_seeds(self, node: Node) -> tuple[int, ...]:
        """Every fresh seed the node may confirm on, up to the cap; its looks take them in order."""
        return tuple(confirmation_seed(node.id, j, self.config.fresh_base)
                     for j in range(self.design.cap))

    def noise_seeds(self, baseline: Node) -> tuple[int, ...]:
        """The baseline's extra seeds: its own fresh seeds, which no candidate ever confirms on
        (the baseline has no parent), so they are fresh for every comparison too."""
        return tuple(confirmation_seed(baseline.id, j, self.config.fresh_base)
                     for j in range(self.config.noise))

    def confirmation_bar(self, noise: Pooled) -> float:
        """The least mean improvement over a node's fresh pairs that passes its test: p < alpha
        with the run's pooled noise, and at least the task's min_effect. Sequential: the last
        look's, over the cap's pairs (what the value function forecasts a node against)."""
        se = max(noise.sigma, TINY) / self.design.cap ** 0.5
        return max(float(stats.t.isf(self.design.levels[-1], noise.df)) * se,
                   self.config.min_effect)

    # -- noise -----------------------------------------------------------------------------

    def noise(self, nodes: Mapping[int, Node], upto: int | None = None) -> Pooled:
        """The run's pooled variance of fresh paired differences (see `stats.pool`); with
        `upto`, of the nodes proposed up to that one: the noise node `upto` is tested with."""
        baseline = next(n for n in nodes.values() if n.is_baseline)
        groups = []
        read: dict[int, dict[int, float]] = {}  # a parent's values: read once, not per child
        for node in nodes.values():
            if node.is_baseline or node.parent_id not in nodes:
                continue
            if upto is not None and node.id > upto:
                continue
            for n in (node, nodes[node.parent_id]):
                if n.id not in read:
                    read[n.id] = n.values(self.metric)
            gains = self._fresh(node, read[node.id], read[node.parent_id])
            if len(gains) >= 2:
                groups.append(gains)
        seeds = self.seeds + self.noise_seeds(baseline)
        return pool(list(baseline.values(self.metric, seeds).values()), groups)

    def unsettled(self, node: Node, nodes: Mapping[int, Node]) -> Node | None:
        """The first node proposed before `node` whose share of the noise is not yet known:
        undecided, with fresh pairs still to run (or a screen that may lead to them, or a look
        that asks for more). A test made before it is settled would pool a different noise than
        one made after, and which comes first is a matter of timing; so `node`'s decisions, its
        looks' included, wait for it (its runs don't)."""
        for other in sorted(nodes.values(), key=lambda n: n.id):
            if other.id >= node.id:
                return None
            if other.is_baseline or other.status is not NodeStatus.RUNNING:
                continue
            parent = nodes.get(other.parent_id)
            if parent is None:
                continue
            if self._pairs_to_come(other, parent, nodes):
                return other
        return None

    def _pairs_to_come(self, node: Node, parent: Node, nodes: Mapping[int, Node]) -> bool:
        """Whether a running node may still add fresh pairs to the pool: its first look's are
        not all in, or (sequential) its latest look has pairs to run or asks for more."""
        mine, theirs = node.values(self.metric), parent.values(self.metric)
        first = self.confirmation_seeds(node)[:self.design.pairs[0]]
        if not all(s in mine and s in theirs for s in first):
            return True
        if not self.design.sequential or _failed(node, self.metric) is not None \
                or _failed(parent, self.metric, self.confirmation_seeds(node)) is not None:
            return False
        # the nodes before it are settled (unsettled looks in order), so this is its noise
        state = self._looks(node, parent, self.noise(nodes, upto=node.id))
        return bool(state.missing) or state.decision == "continue"

    def forecast_seeds(self, node: Node, nodes: Mapping[int, Node]) -> tuple[int, ...]:
        """The fresh seeds a forecast of a node's test counts on (the value function's test
        looks): up to the cap while its confirmation may still go on; once its latest look has
        all its pairs and is not "continue" (or waits to be decided), that look's, all ended,
        so that no futility look second-guesses a node the judge decides (one that passed at
        an early look runs no more fresh pairs)."""
        seeds = self.confirmation_seeds(node)
        parent = nodes.get(node.parent_id) if node.parent_id is not None else None
        if not self.design.sequential or parent is None or node.status is not NodeStatus.RUNNING:
            return seeds
        mine, theirs = node.values(self.metric), parent.values(self.metric)
        first = seeds[:self.design.pairs[0]]
        if not all(s in mine and s in theirs for s in first) \
                or _failed(parent, self.metric, seeds) is not None:
            return seeds
        state = self._looks(node, parent, self.noise(nodes, upto=node.id))
        if state.missing or (state.decision == "continue"
                             and self.unsettled(node, nodes) is None):
            return seeds
        return state.seeds

    def fresh_improvements(self, node: Node, parent: Node) -> list[float]:
        return self._fresh(node, node.values(self.metric), parent.values(self.metric))

    def _fresh(self, node: Node, mine: Mapping[int, float],
               theirs: Mapping[int, float]) -> list[float]:
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
        parent_failed = _failed(parent, self.metric, self.confirmation_seeds(node))
        if parent_failed is not None:
            return Step("reject", reason=(
                f"confirm: the parent, node {parent.id}, failed on confirmation seed "
                f"{parent_failed.seed} ({parent_failed.reason}); nothing to compare against"),
                verdict=ParentFailedVerdict(parent.id, screen_gain))
        state = self._looks(node, parent, noise)
        # seed by seed, the parent first: with one worker, each of the candidate's runs then
        # has its parent's finished curve beside it, which the value function needs to look
        def pairs(seeds: Iterable[int]) -> tuple[tuple[int, int], ...]:
            return tuple(run for s in seeds for run in ((parent.id, s), (node.id, s))
                         if s not in (theirs if run[0] == parent.id else values))

        if state.missing:
            # a look after the first rests on the tests of the looks before it
            return Step("run", pairs(state.missing), "confirm",
                        tested=len(state.seeds) > self.design.pairs[0])
        test, decision = state.test, state.decision
        if decision == "continue":  # promising: the next look's pairs
            return Step("run", pairs(self._next_look(node, state)), "confirm", tested=True)
        verdict = self._verdict(node, parent, screen_gain, test, state)
        summary = (f"{self._signed(test.mean)} vs node {parent.id} on {test.n} fresh seed "
                   f"pairs, 95% CI [{test.ci95[0]:+.4g}, {test.ci95[1]:+.4g}], "
                   f"p={test.p_value:.3g}")
        if decision != "pass":
            return Step("reject", reason=f"not proven better ({self._why(state)}): {summary}",
                        verdict=replace(verdict, passed=False), tested=True)
        # whether it passed is what the value function's futility stops are checked against
        verdict = replace(verdict, passed=True)
        held = check_constraints(self.config.constraints, node, parent, self.metric,
                                 state.seeds, self.config.alpha)
        if held.broken is not None:
            return Step("reject", reason=f"{held.reason}; though {summary}", verdict=verdict,
                        tested=True)
        missing = tuple((node.id, s) for s in self.seeds if s not in values)
        if missing:
            return Step("run", missing, "complete", tested=True)
        verdict = replace(verdict, task_gains={
            str(s): g for s, g in self.task_improvements(node, parent).items()})
        where = ""
        if self.design.sequential:
            where = (f"accepted at look {len(state.looks)} of {self.design.looks} "
                     f"({test.n} fresh pairs): ")
        return Step("accept", reason=f"better beyond noise: {where}{summary}{held.note}",
                    verdict=verdict, tested=True)

    # -- the looks of a confirmation -------------------------------------------------------

    def _looks(self, node: Node, parent: Node, noise: Pooled | None) -> _Looks:
        """Where a node's confirmation stands: the look its ended pairs belong to and, once that
        look's pairs are all in, every look made so far and the latest one's decision.

        A look is never decided twice: the pairs of a later look are run only when an earlier
        look said "continue", so the ended pairs say which look is current, and only that one is
        tested. The earlier ones are recomputed for the record, each with the pool as it stood
        (this node's pairs of then; the nodes before it were settled before its first look).
        `noise` must be the run's pool with this node's ended pairs in it (`Judge.noise`)."""
        mine, theirs = node.values(self.metric), parent.values(self.metric)
        seeds = self.confirmation_seeds(node)
        ended = [s for s in seeds if s in mine and s in theirs]
        design = self.design
        k = design.look_at(len(ended))
        current = seeds[:design.pairs[k]]
        missing = tuple(s for s in current if s not in mine or s not in theirs)
        if missing:
            return _Looks(current, missing)
        if noise is None:
            raise ValueError("the judge needs the run's noise estimate to confirm")
        own = [self.improvement(theirs[s], mine[s]) for s in ended]
        looks, test = [], None
        for j in range(k + 1):
            gains = [self.improvement(theirs[s], mine[s]) for s in seeds[:design.pairs[j]]]
            test = paired_test(gains, noise if j == k else regroup(noise, own, gains))
            looks.append(self._look(j, test, decide=j == k))
        return _Looks(current, (), tuple(looks), test, looks[-1].decision)

    def _look(self, j: int, test: PairedTest, decide: bool) -> Look:
        design = self.design
        level = design.levels[j]
        last = j == design.looks - 1
        power = None if last else design.conditional_power(j, test.p_value)
        if not decide:
            decision = "continue"  # its next look's pairs ran: that was its decision
        elif test.p_value < level:
            decision = "pass" if test.mean >= self.config.min_effect else "small"
        elif last:
            decision = "cap"
        else:
            decision = "futile" if power < FUTILITY_POWER else "continue"
        return Look(test.n, level, test.p_value, test.mean, decision, power)

    def _next_look(self, node: Node, state: _Looks) -> tuple[int, ...]:
        k = self.design.look_at(len(state.seeds))
        return self.confirmation_seeds(node)[len(state.seeds):self.design.pairs[k + 1]]

    def _why(self, state: _Looks) -> str:
        """Why a tested node did not pass, in the words of earlier recursors for a fixed one."""
        look = state.looks[-1]
        design, alpha, floor = self.design, self.config.alpha, self.config.min_effect
        if not design.sequential:
            return f"p >= {alpha:g}" if look.decision == "cap" else \
                f"effect below the task's min_effect {floor:g}"
        at = f"look {len(state.looks)} of {design.looks} ({look.pairs} fresh pairs)"
        if look.decision == "small":
            return f"effect below the task's min_effect {floor:g}, at {at}"
        if look.decision == "futile":
            return (f"futile at {at}: a {look.conditional_power:.1%} chance to pass by the cap "
                    f"of {design.cap} pairs were the gain seen so far the true one")
        return f"p >= {look.level:.3g}, the level of {at}, the cap"

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

    def _verdict(self, node: Node, parent: Node, screen_gain: float, test: PairedTest,
                 state: _Looks) -> ConfirmVerdict:
        parent_mean = parent.mean(self.metric, self.seeds)
        verdict = ConfirmVerdict(
            parent=parent.id,
            screen_gain=screen_gain,
            seeds=state.seeds,
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
        if not self.design.sequential:
            return verdict  # the fixed test's record, key for key as earlier recursors wrote it
        return replace(verdict, looks=state.looks, planned_looks=self.design.looks,
                       spending=self.design.spending)

    def _signed(self, gain: float) -> str:
        word = "better" if gain > 0 else "worse" if gain < 0 else "no change"
        return f"{abs(gain):.4g} {self.metric} {word}"


@dataclass(frozen=True)
class _Looks:
    seeds: tuple[int, ...]  # the fresh seeds of the current look (and of those before it)
    missing: tuple[int, ...]  # of them, those whose pair has not ended
    looks: tuple[Look, ...] = ()  # once none is missing: every look made, the current one last
    test: PairedTest | None = None  # the current look's
    decision: str | None = None  # the current look's (Look.decision)


def _failed(node: Node, metric: str, seeds: Iterable[int] | None = None):
    keep = None if seeds is None else set(seeds)
    return next((e for e in node.evaluations
                 if e.evaluation == metric and e.status is EvalStatus.FAILED
                 and (keep is None or e.seed in keep)), None)
