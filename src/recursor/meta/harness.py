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

from recursor.harness import HarnessError, harness_main

PROGRAM = "meta.toml"


def pair(tasks: list[Mapping[str, Any]], seed: int) -> tuple[Mapping[str, Any], int]:
    """The (task entry, run seed) a seed stands for."""
    if not tasks:
        raise HarnessError("the evaluation lists no tasks")
    return tasks[seed % len(tasks)], seed // len(tasks)


def run(config: dict[str, Any], metrics: Any) -> dict[str, Any]:
    from recursor.errors import RecursorError, SettingsError
    from recursor.meta.inner import inner_run
    from recursor.settings.model import default
    from recursor.settings.process import load_process

    evaluation = config["evaluation"]
    entry, run_seed = pair(list(evaluation.get("tasks") or []), int(config["seed"]))
    program = Path(config["workspace"]) / PROGRAM
    try:
        load_process(program)  # refused here, before anything runs
    except SettingsError as err:
        raise HarnessError(f"the process file is refused: {err}") from None
    job_dir = Path(config["metrics_file"]).parent
    _inner_environment(config)
    try:
        found = inner_run(entry, run_seed, program, run_dir=job_dir / "inner-run",
                          seed_runs=float(config["budget"]["seed_runs"]),
                          experiments=int(config["budget"]["experiments"]),
                          cache=cache_folder(job_dir), sandbox=config["sandbox"]["kind"])
    except RecursorError as err:
        raise HarnessError(f"the inner run on {entry['task']} failed: {err}") from None
    return {"metrics": found.metrics(evaluation["name"]),
            # the judge's level, which no process may change, bounds the null canaries
            "findings": found.findings(float(default("alpha")))}


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


if __name__ == "__main__":
    sys.exit(harness_main(run))
