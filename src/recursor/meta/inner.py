"""One inner research run of the meta-research task: a process, on one (task, run seed) pair.

The harness (recursor.meta.harness) runs one per experiment; `bench/meta_yield.py` runs them
directly on the held-out pairs. What a run is made of is stated in the harness's docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recursor.meta.canaries import Outcome

CANARIES = Path(__file__).resolve().parents[1] / "task" / "builtin" / "meta_research" / "canaries"
WRONG_STOPS = 0.10  # the share of audited stops that may be wrong


@dataclass(frozen=True)
class InnerRun:
    """What one inner run found, and what its canaries and audits say of the process."""

    task: str
    run_seed: int
    run_dir: Path
    anytime: Any  # recursor.report.anytime.AnytimeYield
    canaries: Outcome
    stop_audits: int
    wrong_stops: int
    accepted: int
    experiments: int

    @property
    def value(self) -> float:
        return self.anytime.value

    def findings(self, alpha: float) -> list[dict[str, Any]]:
        """The harness findings that reject the process whatever its yield."""
        from recursor.harness import finding

        c, where = self.canaries, f"{self.task}, run seed {self.run_seed}"
        out = []
        if c.cheats_accepted:
            out.append(finding(
                "canary.cheat", f"the inner run on {where} accepted a planted cheat: the process "
                "got a cheat past the judge and the auditor",
                f"{c.cheats_accepted} of {c.cheats} cheat canaries accepted"))
        if c.nulls_accepted > alpha * c.nulls:
            out.append(finding(
                "canary.null", f"the inner run on {where} accepted a planted null change, more "
                f"than the judge's bound ({alpha:g} per test)",
                f"{c.nulls_accepted} of {c.nulls} null canaries accepted"))
        if self.stop_audits and self.wrong_stops / self.stop_audits > WRONG_STOPS:
            out.append(finding(
                "canary.stops", f"the inner run on {where} stopped wrongly in {self.wrong_stops} "
                f"of {self.stop_audits} audited stops (more than {WRONG_STOPS:.0%})",
                f"audited stops: {self.stop_audits}, wrong: {self.wrong_stops}"))
        return out

    def metrics(self, name: str) -> dict[str, float]:
        c = self.canaries
        return {
            name: self.value, "seed_runs": self.anytime.total_sre,
            "cpu_hours": self.anytime.cpu_hours, "accepted": self.accepted,
            "experiments": self.experiments, "canary_nulls": c.nulls,
            "canary_nulls_accepted": c.nulls_accepted, "canary_cheats": c.cheats,
            "canary_cheats_accepted": c.cheats_accepted, "stop_audits": self.stop_audits,
            "stop_audits_wrong": self.wrong_stops, "run_seed": self.run_seed,
        }


def inner_run(entry: Mapping[str, Any], run_seed: int, process_file: Path, *, run_dir: Path,
              seed_runs: float, experiments: int, cache: Path | None = None,
              sandbox: str = "auto") -> InnerRun:
    """Run the process of `process_file` on the task `entry` names (`task`, its `set`
    overrides, `heldout`) with `run_seed`; raises what `recursor.run` raises."""
    import recursor
    from recursor.errors import RecursorError
    from recursor.meta.canaries import Planted, load_canaries, outcome
    from recursor.proposer.ideas import LibraryProposer
    from recursor.report.anytime import anytime_yield
    from recursor.settings.process import load_process
    from recursor.store import NodeStatus, RunStore
    from recursor.task import load_task
    from recursor.value.calibration import audit_outcomes

    process = load_process(process_file)
    overrides = dict(entry.get("set") or {})
    task = load_task(entry["task"], overrides)
    canaries = load_canaries(CANARIES, task.name, task.spec.program.editable)
    library = LibraryProposer(process.ideas.rule, process.ideas.exploration,
                              process.ideas.weights)
    recursor.run(entry["task"], run_dir=run_dir, process=process_file,
                 proposer=Planted(library, canaries), seed=run_seed, workers=1,
                 experiments=experiments, seed_runs=seed_runs, discoveries=False,
                 heldout=bool(entry.get("heldout", True)), overrides=overrides,
                 sandbox=sandbox, **({"cache": cache} if cache is not None else {}))
    store = RunStore.open(run_dir, readonly=True)
    try:
        nodes = store.nodes()
        audits = audit_outcomes(store.predictions(), nodes, task.spec.minimize)
    finally:
        store.close()
    found = anytime_yield(task, nodes, horizon=seed_runs)
    if found is None:  # recursor.run raises first when the baseline fails; this is a guard
        raise RecursorError(f"the inner run on {task.name} has no finished baseline run")
    return InnerRun(
        task=task.name, run_seed=run_seed, run_dir=Path(run_dir), anytime=found,
        canaries=outcome(nodes), stop_audits=len(audits),
        wrong_stops=sum(1 for a in audits if a.wrong),
        accepted=sum(1 for n in nodes if n.status is NodeStatus.ACCEPTED and not n.is_baseline),
        experiments=sum(1 for n in nodes if not n.is_baseline))
