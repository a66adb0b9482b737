"""The anytime research yield of a run: the judge-accepted gain a run held, on average, over the
compute it spent. Research processes (how ideas are chosen, parents picked, experiments
stopped) are compared by it, so this docstring is its definition; the code follows it.

Compute. Every evaluation of the run adds its recorded `seconds` (`Evaluation.seconds`, the
wall time of that one run of the harness): every seed of every node, screens, confirmations,
the baseline's noise seeds, held-out evaluations, failed runs, and runs stopped early (by the
value function, or because their node was decided first) at the seconds they ran before the
stop. An evaluation still running adds nothing yet; one lost to a kill records no seconds and
adds nothing (it runs again as a new evaluation, which does). Compute is counted in seed-run
equivalents (SRE): one SRE is the baseline's mean `seconds` over its finished runs of the
task's public evaluation (the one named after the metric the run optimises). CPU-hours beside
it are seconds x the task's `limits.threads` (the threads each experiment is given) / 3600:
CPU reserved for the runs, not CPU time measured in them.

The curve. The accepted nodes, the baseline among them, are walked in the order they were
decided (`decided_at`, then id). The compute at a decision is the seconds of the evaluations
that had finished by then (`finished_at` <= `decided_at`). After each decision the incumbent is
the best accepted node so far by the run's objective (the metric the judge tested: the task's
metric, or the secondary metric the run's `objective` setting names; recursor.task.objectives),
by its mean over the task's seeds, ties broken as the report's `best` is (the higher node id).
The baseline is decided first and is the incumbent until an accepted node beats it. From each
decision on, the curve's value is the incumbent's gain over the baseline on the gain metric:

    gain = (b - x) / |b|   for a metric to minimise,      gain = (x - b) / |b|   to maximise

with x and b the incumbent's and the baseline's means of that evaluation over the seeds both
ran of it (a held-out evaluation runs on the first `seeds` of the task's seeds). Positive is
better. Before the first accepted node beats the baseline the curve is 0; an incumbent that
was accepted on the public metric but is worse held out is a negative gain for as long as it
stays the incumbent. Only accepted nodes count: a rejected node's numbers never enter.

The gain metric is the task's first held-out evaluation (or the one named). The public metric
(the objective, on the task's seeds) is used instead, for the whole curve, when the task
declares no held-out evaluation; when the run optimises a secondary metric (held-out
evaluations measure the task's own metric, and such a run does not run them); or when the
baseline or any node that was ever the incumbent has no finished result of the held-out
evaluation (a run made with `heldout` off, or held-out runs still due). `fallback` then says
which, and why; one curve never mixes two metrics.

The yield. Over a horizon of H SRE (default: the run's own total), the curve is a step function
of compute c in SRE that stays at its last value past the run's end and is cut off at H:

    area  = integral of gain(c) dc from 0 to H          (gain x SRE)
    value = area / H                                     (the mean gain over the budget)

so an acceptance earlier in compute counts for more than the same one later, and two runs are
compared over the same compute by giving both the same H. H = 0 gives 0. A run whose baseline
has no finished public run has no unit of compute, and no yield (None).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from recursor.loop.budget import seed_run_seconds
from recursor.store import Node, NodeStatus
from recursor.task import Task


@dataclass(frozen=True)
class Step:
    """Where the curve changes: from `sre` (and `cpu_hours`) on, the incumbent is `node`, with
    `gain` over the baseline (a fraction: 0.031 is +3.1%)."""

    sre: float
    cpu_hours: float
    gain: float
    node: int


@dataclass(frozen=True)
class AnytimeYield:
    """A run's anytime research yield (see the module). `gain` and `value` are fractions."""

    points: tuple[Step, ...]  # the curve's steps in compute order; 0 before the first
    total_sre: float  # what the run spent, in SRE
    cpu_hours: float  # what the run spent, in CPU-hours
    horizon: float  # H, in SRE
    area: float  # gain x SRE, from 0 to H
    value: float  # area / H: the yield
    metric: str  # the evaluation the gains are measured on
    fallback: str | None  # why `metric` is the public one; None when it is held out
    sre_seconds: float  # the seconds of one SRE
    threads: int  # the task's limits.threads, by which seconds become CPU-hours

    @property
    def held_out(self) -> bool:
        return self.fallback is None

    @property
    def horizon_cpu_hours(self) -> float:
        return self.horizon * self.sre_seconds * self.threads / 3600

    def gain_at(self, sre: float) -> float:
        """The curve's value at `sre`: the gain of the incumbent then (0 before the first)."""
        i = bisect.bisect_right([p.sre for p in self.points], sre)
        return self.points[i - 1].gain if i else 0.0

    def describe(self) -> str:
        """One line for reports."""
        kind = "held-out" if self.held_out else "public"
        budget = f"{self.horizon:.1f} SRE (seed-run equivalents; {self.horizon_cpu_hours:.2f} CPU-h"
        if abs(self.horizon - self.total_sre) > 1e-9 * max(1.0, self.total_sre):
            budget += f"; the run spent {self.total_sre:.1f} SRE"
        budget += ")"
        within = [p for p in self.points if p.sre <= self.horizon]
        if within:
            last = within[-1]
            end = f"; ends at {last.gain:+.2%} (node {last.node}, from {last.sre:.1f} SRE)"
        elif self.points:
            end = "; the first accepted gain came after the horizon"
        else:
            end = "; no accepted candidate improved on the baseline"
        text = f"anytime yield: {self.value:+.2%} mean {kind} {self.metric} gain over {budget}{end}"
        return text + (f"; not held out: {self.fallback}" if self.fallback else "")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "points": [asdict(p) for p in self.points],
                "held_out": self.held_out, "horizon_cpu_hours": self.horizon_cpu_hours,
                "text": self.describe()}


def anytime_yield(task: Task, nodes: Iterable[Node], horizon: float | None = None, *,
                  heldout: str | None = None) -> AnytimeYield | None:
    """The anytime research yield of a run of `task` (as the run sees it: `Run.task`) with
    `nodes`, over `horizon` SRE (default: the run's total); `heldout` names the held-out
    evaluation to measure gains on (default: the task's first). None when the baseline has no
    finished public run. Raises ValueError on a negative horizon or an unknown evaluation."""
    if horizon is not None and horizon < 0:
        raise ValueError(f"the horizon is a compute budget in SRE, at least 0 (got {horizon})")
    spec = task.spec
    nodes = list(nodes)
    baseline = next((n for n in nodes if n.is_baseline), None)
    if baseline is None:
        return None
    objective, seeds = spec.metric.name, list(spec.seeds.values)
    unit = seed_run_seconds([baseline], objective)  # the compute budget's unit too
    if unit is None:
        return None
    threads = spec.limits.threads
    spent = _Spent(nodes)

    # who led, when: by the objective, as the judge tested it
    sign = 1 if spec.minimize else -1
    leaders: list[tuple[float, Node]] = []  # (seconds spent at the decision, new incumbent)
    best: tuple[float, int] | None = None
    for node in sorted((n for n in nodes if n.status is NodeStatus.ACCEPTED
                        and n.decided_at is not None), key=lambda n: (n.decided_at, n.id)):
        mean = node.mean(objective, seeds)
        if mean is None:
            continue
        key = (sign * mean, -node.id)
        if best is None or key < best:
            best = key
            # the baseline leads from the start, at gain 0: a step only if it took the lead
            # back, which a run whose baseline is decided first never sees
            if not node.is_baseline or leaders:
                leaders.append((spent.by(node.decided_at), node))

    held, fallback, held_seeds = _gain_metric(task, heldout, baseline, [n for _, n in leaders])
    metric, metric_seeds = (held, held_seeds) if held and fallback is None else (objective, seeds)
    points = []
    for seconds, node in leaders:
        gain = 0.0 if node.is_baseline else _gain(baseline, node, metric, metric_seeds,
                                                  spec.minimize)
        points.append(Step(seconds / unit, seconds * threads / 3600, gain, node.id))
    total = spent.total / unit
    h = total if horizon is None else float(horizon)
    area = _area(points, h)
    return AnytimeYield(tuple(points), total, spent.total * threads / 3600, h, area,
                        area / h if h > 0 else 0.0, metric, fallback, unit, threads)


class _Spent:
    """Seconds spent on the evaluations that had finished by a given time."""

    def __init__(self, nodes: Sequence[Node]):
        done = sorted((e.finished_at, e.seconds) for n in nodes for e in n.evaluations
                      if e.seconds is not None and e.finished_at is not None)
        self._times = [t for t, _ in done]
        self._sums = list(itertools.accumulate(s for _, s in done))
        self.total = self._sums[-1] if self._sums else 0.0

    def by(self, at: float) -> float:
        i = bisect.bisect_right(self._times, at)
        return self._sums[i - 1] if i else 0.0


def _gain_metric(task: Task, heldout: str | None, baseline: Node,
                 leaders: Sequence[Node]) -> tuple[str | None, str | None, list[int]]:
    """(the held-out evaluation, why the public metric is used instead or None, its seeds)."""
    spec = task.spec
    if task.task_metric is not None:
        # the run sees the task through its objective, which drops the held-out evaluations
        return None, (f"the run optimises {spec.metric.name}; the task's held-out evaluations "
                      f"measure {task.task_metric} and are not run for it"), []
    # a final evaluation runs on the result only, never along the curve (recursor.loop.final)
    held = [e for e in spec.evaluations if e.held_out and not e.final]
    if heldout is not None and heldout not in {e.name for e in held}:
        raise ValueError(f"{heldout!r} is not a held-out evaluation of task {task.name} "
                         f"(it has {', '.join(e.name for e in held) or 'none'})")
    if not held:
        finals = [e.name for e in spec.evaluations if e.final]
        return None, ("the task's held-out evaluation is read once, on the result "
                      f"({', '.join(finals)}; see the final verdict)" if finals
                      else "the task declares no held-out evaluation"), []
    chosen = next(e for e in held if heldout is None or e.name == heldout)
    seeds = list(spec.seeds.values[:chosen.seeds])
    if not baseline.values(chosen.name, seeds):
        return chosen.name, (f"the baseline has no finished {chosen.name} result (held-out "
                             "runs off, or still due)"), seeds
    for node in leaders:
        if not node.is_baseline and not _common(baseline, node, chosen.name, seeds):
            return chosen.name, (f"node {node.id} has no finished {chosen.name} result on a "
                                 "seed the baseline ran it on (held-out runs off, or still "
                                 "due)"), seeds
    return chosen.name, None, seeds


def _common(baseline: Node, node: Node, evaluation: str, seeds: Sequence[int]) -> list[int]:
    mine, theirs = node.values(evaluation, seeds), baseline.values(evaluation, seeds)
    return [s for s in seeds if s in mine and s in theirs]


def _gain(baseline: Node, node: Node, evaluation: str, seeds: Sequence[int],
          minimize: bool) -> float:
    shared = _common(baseline, node, evaluation, seeds)
    mine, theirs = node.values(evaluation, seeds), baseline.values(evaluation, seeds)
    if not shared:
        return 0.0  # only reached for the public metric of a node the baseline shares no seed with
    x = sum(mine[s] for s in shared) / len(shared)
    b = sum(theirs[s] for s in shared) / len(shared)
    if not b:
        return 0.0
    return ((b - x) if minimize else (x - b)) / abs(b)


def _area(points: Sequence[Step], horizon: float) -> float:
    area = 0.0
    for i, p in enumerate(points):
        start = min(p.sre, horizon)
        end = min(points[i + 1].sre, horizon) if i + 1 < len(points) else horizon
        area += p.gain * (end - start)
    return area
