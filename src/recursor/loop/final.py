"""Final evaluations: held-out evaluations read once, for the run's result, never during search.

A task's held-out evaluation normally runs on every accepted node, and its gate can overturn an
accept (recursor.loop.gates). A `final = true` evaluation is stricter: it is read once, after the
search has ended, on the run's best node and on the baseline, on the same seeds, so nothing the
search did could have been steered by it. The meta-research task holds its held-out tasks this
way: a research process that was picked by looking at them would not be held out.

The verdict pairs best and baseline seed by seed: the mean paired gain, its 95% t-interval, and
in words whether the gain held up ("better", interval above zero), did not ("worse", interval
below zero), or is not shown ("not shown"); with no accepted node there is nothing to evaluate,
and the verdict says the baseline is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recursor.judge import Judge
from recursor.judge.stats import mean_ci95
from recursor.loop.gates import ENDED
from recursor.store import Node, NodeStatus
from recursor.task import Task

Run = tuple[int, int, str, str]  # (node id, seed, evaluation, stage)
STAGE = "final"


class Final:
    def __init__(self, task: Task, enabled: bool):
        spec = task.spec
        self.due = ([(ev.name, tuple(spec.seeds.values[:ev.seeds]))
                     for ev in spec.evaluations if ev.held_out and ev.final] if enabled else [])

    def __bool__(self) -> bool:
        return bool(self.due)

    @staticmethod
    def best(nodes: Mapping[int, Node], judge: Judge) -> Node | None:
        """The run's best accepted node by the search's metric on the task's seeds; None when
        nothing was accepted."""
        accepted = [n for n in nodes.values() if n.status is NodeStatus.ACCEPTED
                    and not n.is_baseline and n.mean(judge.metric, judge.seeds) is not None]
        if not accepted:
            return None
        sign = -1 if judge.minimize else 1
        return max(accepted, key=lambda n: (sign * n.mean(judge.metric, judge.seeds), -n.id))

    def next_run(self, nodes: Mapping[int, Node], judge: Judge, flying: set) -> Run | None:
        """The next final run of the best node or the baseline; None when they are all in (or
        there is nothing to evaluate)."""
        best = self.best(nodes, judge)
        if best is None:
            return None
        baseline = next(n for n in nodes.values() if n.is_baseline)
        for who in (baseline, best):
            for name, seeds in self.due:
                ended = {e.seed for e in who.evaluations if e.evaluation == name
                         and e.status in ENDED}
                for seed in seeds:
                    if seed not in ended and (who.id, seed, name) not in flying:
                        return who.id, seed, name, STAGE
        return None

    def verdicts(self, nodes: Mapping[int, Node], judge: Judge) -> list[dict[str, Any]] | None:
        """One verdict per final evaluation, once every run is in; None before."""
        best = self.best(nodes, judge)
        if best is None:
            return [{"evaluation": name, "node": None, "verdict": "baseline kept",
                     "why": "no node was accepted: the baseline is the result, and there is "
                            "nothing to compare it with"} for name, _ in self.due]
        baseline = next(n for n in nodes.values() if n.is_baseline)
        out = []
        for name, seeds in self.due:
            mine, theirs = best.values(name, seeds), baseline.values(name, seeds)
            done = [s for s in seeds if _ended(best, name, s) and _ended(baseline, name, s)]
            if len(done) < len(seeds):
                return None
            common = [s for s in seeds if s in mine and s in theirs]
            gains = [judge.improvement(theirs[s], mine[s]) for s in common]
            out.append(_verdict(name, best, baseline, common, gains, len(seeds)))
        return out


def _ended(node: Node, name: str, seed: int) -> bool:
    return any(e.evaluation == name and e.seed == seed
               and e.status in ENDED for e in node.evaluations)


def _verdict(name: str, best: Node, baseline: Node, seeds: list[int], gains: list[float],
             wanted: int) -> dict[str, Any]:
    mean = sum(gains) / len(gains) if gains else None
    ci = mean_ci95(gains)
    if len(gains) < wanted:
        verdict, why = "failed", (f"{wanted - len(gains)} of {wanted} final runs failed: the "
                                  "result does not run on the held-out evaluation")
    elif ci is None:
        verdict, why = "not shown", "one paired seed gives no interval"
    elif ci[0] > 0:
        verdict, why = "better", "the 95% interval of the paired gain is above zero"
    elif ci[1] < 0:
        verdict, why = "worse", "the 95% interval of the paired gain is below zero"
    else:
        verdict, why = "not shown", "the 95% interval of the paired gain contains zero"
    return {"evaluation": name, "node": best.id, "baseline": baseline.id, "seeds": seeds,
            "gains": gains, "mean": mean, "ci95": list(ci) if ci else None,
            "verdict": verdict, "why": why}


def describe(verdict: Mapping[str, Any]) -> str:
    """One line of a final verdict, for events and reports."""
    if verdict.get("node") is None:
        return f"final {verdict['evaluation']}: {verdict['verdict']} ({verdict['why']})"
    ci = verdict.get("ci95")
    interval = f", 95% CI [{ci[0]:+.4g}, {ci[1]:+.4g}]" if ci else ""
    mean = f"{verdict['mean']:+.4g}" if verdict.get("mean") is not None else "–"
    return (f"final {verdict['evaluation']}: node {verdict['node']} vs baseline "
            f"{verdict['baseline']} on {len(verdict['seeds'])} paired seeds: gain {mean}"
            f"{interval}: {verdict['verdict']} ({verdict['why']})")
