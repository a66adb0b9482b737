"""The meta-research task's harness: one experiment is one inner research run.

The program is a process file (`meta.toml`, recursor.settings.process), read as data and
checked by its schema; nothing of it runs. The seed picks a (task, run seed) pair from the
evaluation's `tasks` list: task `tasks[seed % n]`, run seed `seed // n`, so the task's seeds
cycle through the tasks and a fresh confirmation seed lands on one of them too. The harness
then runs recursor on that task:

- with the process's settings and the built-in library proposer under the process's rule,
  with the canaries of the task's family planted among the candidates (recursor.meta.canaries);
- with no discovery library (a process must not be judged on answers carried in from past
  runs), one worker, the task's overrides, and the budget of the meta task's `[budget]`:
  `seed_runs` of compute (seed-run equivalents) and at most `experiments` candidates;
- with a result cache shared by the meta run's experiments, so that a seed run repeated
  exactly (the same program on the same seed) is replayed and charged its recorded seconds.

The metric is the inner run's anytime research yield (recursor.report.anytime) over a horizon
of `seed_runs`; the inner run's folder stays in the job's folder, for a person to open with
`recursor report`. Findings that reject the process whatever its yield: a cheat canary
accepted; more null canaries accepted than the judge's bound (alpha per test); more than 10%
of the value function's audited stops wrong.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recursor.harness import HarnessError, finding, harness_main

CANARIES = Path(__file__).resolve().parents[1] / "task" / "builtin" / "meta_research" / "canaries"
PROGRAM = "meta.toml"
WRONG_STOPS = 0.10  # the share of audited stops that may be wrong


def pair(tasks: list[Mapping[str, Any]], seed: int) -> tuple[Mapping[str, Any], int]:
    """The (task entry, run seed) a seed stands for."""
    if not tasks:
        raise HarnessError("the evaluation lists no tasks")
    return tasks[seed % len(tasks)], seed // len(tasks)


def run(config: dict[str, Any], metrics: Any) -> dict[str, Any]:
    from recursor.errors import RecursorError, SettingsError
    from recursor.settings.process import load_process

    evaluation = config["evaluation"]
    entry, run_seed = pair(list(evaluation.get("tasks") or []), int(config["seed"]))
    program = Path(config["workspace"]) / PROGRAM
    try:
        process = load_process(program)
    except SettingsError as err:
        raise HarnessError(f"the process file is refused: {err}") from None
    job_dir = Path(config["metrics_file"]).parent
    inner = job_dir / "inner-run"
    _inner_environment(config)
    try:
        nodes, spec, stop_audits = _research(config, entry, run_seed, program, process, inner)
    except RecursorError as err:
        raise HarnessError(f"the inner run on {entry['task']} failed: {err}") from None
    return _result(config, evaluation["name"], entry, run_seed, nodes, spec, stop_audits)


def _inner_environment(config: Mapping[str, Any]) -> None:
    """The inner run finds its data where the outer run resolved the meta task's, and never
    downloads: the harness's environment is clean, and the data were checked already."""
    folders = {str(Path(d["path"]).parent) for d in config.get("data", [])}
    if len(folders) > 1:
        raise HarnessError(f"the data files lie in several folders {sorted(folders)}; the inner "
                           "runs read one")
    if folders:
        os.environ["RECURSOR_DATA"] = folders.pop()
    os.environ["RECURSOR_OFFLINE"] = "1"


def cache_folder(job_dir: Path) -> Path | None:
    """The meta run's result cache: `cache/` in the run folder that holds the job (found by its
    store, `run.db`); None outside a run folder."""
    for folder in job_dir.parents:
        if (folder / "run.db").exists():
            return folder / "cache"
    return None


def _research(config: Mapping[str, Any], entry: Mapping[str, Any], run_seed: int,
              program: Path, process: Any, inner: Path) -> tuple[list, Any, list]:
    import recursor
    from recursor.meta.canaries import Planted, load_canaries
    from recursor.proposer.ideas import LibraryProposer
    from recursor.store import RunStore
    from recursor.task import load_task
    from recursor.value.calibration import audit_outcomes

    overrides = dict(entry.get("set") or {})
    task = load_task(entry["task"], overrides)
    canaries = load_canaries(CANARIES, task.name, task.spec.program.editable)
    library = LibraryProposer(process.ideas.rule, process.ideas.exploration,
                              process.ideas.weights)
    budget = config["budget"]
    settings: dict[str, Any] = {}
    cache = cache_folder(inner.parent)
    if cache is not None:
        settings["cache"] = cache
    recursor.run(entry["task"], run_dir=inner, process=program, proposer=Planted(library, canaries),
                 seed=run_seed, workers=1, experiments=int(budget["experiments"]),
                 seed_runs=float(budget["seed_runs"]), discoveries=False,
                 heldout=bool(entry.get("heldout", True)), overrides=overrides,
                 sandbox=config["sandbox"]["kind"], **settings)
    store = RunStore.open(inner, readonly=True)
    try:
        nodes = store.nodes()
        audits = audit_outcomes(store.predictions(), nodes, task.spec.minimize)
    finally:
        store.close()
    return nodes, task.spec, audits


def _result(config: Mapping[str, Any], name: str, entry: Mapping[str, Any], run_seed: int,
            nodes: list, spec: Any, audits: list) -> dict[str, Any]:
    from recursor.meta.canaries import outcome
    from recursor.report.anytime import anytime_yield
    from recursor.settings.model import default

    horizon = float(config["budget"]["seed_runs"])
    found = anytime_yield(nodes, spec, horizon=horizon)
    canaries = outcome(nodes)
    wrong = sum(1 for a in audits if a.wrong)
    alpha = float(default("alpha"))  # the judge's level, which no process may change
    findings = []
    where = f"{entry['task']}, run seed {run_seed}"
    if canaries.cheats_accepted:
        findings.append(finding(
            "canary.cheat", f"the inner run on {where} accepted a planted cheat: the process "
            "got a cheat past the judge and the auditor", f"{canaries.cheats_accepted} of "
            f"{canaries.cheats} cheat canaries accepted"))
    if canaries.nulls_accepted > alpha * canaries.nulls:
        findings.append(finding(
            "canary.null", f"the inner run on {where} accepted a planted null change, more than "
            f"the judge's bound ({alpha:g} per test)", f"{canaries.nulls_accepted} of "
            f"{canaries.nulls} null canaries accepted"))
    if audits and wrong / len(audits) > WRONG_STOPS:
        findings.append(finding(
            "canary.stops", f"the inner run on {where} stopped wrongly in {wrong} of "
            f"{len(audits)} audited stops (more than {WRONG_STOPS:.0%})",
            f"audited stops: {len(audits)}, wrong: {wrong}"))
    return {
        "metrics": {
            name: found.value, "seed_runs": found.total_sre, "cpu_hours": found.cpu_hours,
            "accepted": sum(1 for n in nodes if n.status == "accepted" and not n.is_baseline),
            "experiments": sum(1 for n in nodes if not n.is_baseline),
            "canary_nulls": canaries.nulls, "canary_nulls_accepted": canaries.nulls_accepted,
            "canary_cheats": canaries.cheats, "canary_cheats_accepted": canaries.cheats_accepted,
            "stop_audits": len(audits), "stop_audits_wrong": wrong,
            "run_seed": run_seed,
        },
        "findings": findings,
        "note": f"{entry['task']} run seed {run_seed}: {found.describe()}",
    }


if __name__ == "__main__":
    sys.exit(harness_main(run))
