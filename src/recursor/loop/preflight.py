"""A model's candidate, run briefly before it becomes an experiment (the task's `[trial]`).

A small model's patch that applies and passes the auditor still often crashes: a tensor of the
wrong width, an attribute that does not exist, a kernel whose output is wrong. As an
experiment, that costs a worker a full seed run and comes back to the model one proposal later,
as a repair. Run at the trial's small budget first (the same harness, the same sandbox, the
first seed), it costs seconds, and the error goes back to the model inside the same
conversation, in the program's own terms (`program_traceback`).

A trial is never evidence: its result is not stored as an evaluation and decides nothing but
whether the candidate is worth an experiment. Its folder (config, logs, metrics) is kept under
the run's `trials/`, so what the model was told can be checked.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path

from recursor.executor.job import program_traceback
from recursor.executor.local import run_job
from recursor.executor.process import GroupProcess
from recursor.executor.sandbox import Sandbox
from recursor.loop.gates import harness_findings
from recursor.loop.jobs import make_job
from recursor.task import Task

TRIALS_DIR = "trials"


class Preflight:
    """`preflight(files)`: why the program in `files` failed its trial run, or None when it
    ran. Callable from the proposer's thread; `cancel` kills a trial in progress (the run
    ends) and refuses later ones."""

    def __init__(self, task: Task, run_dir: Path, data_paths: Mapping[str, str],
                 sandbox: Sandbox, task_hash: str | None = None):
        trial = task.spec.trial
        if trial is None:
            raise ValueError(f"task {task.name} has no [trial]: nothing says how to run a "
                             "candidate briefly")
        spec = task.spec
        limits = spec.limits.model_copy(update={
            "timeout_seconds": min(trial.timeout_seconds, spec.limits.timeout_seconds)})
        # never more than the run's own budget (a run made small by its overrides)
        budget = {**spec.budget, **{
            k: min(v, spec.budget[k]) if _numbers(v, spec.budget.get(k)) else v
            for k, v in trial.budget.items()}}
        self.task = dataclasses.replace(task, spec=spec.model_copy(update={
            "budget": budget, "limits": limits}))
        self.root = Path(run_dir) / TRIALS_DIR
        self.data_paths = dict(data_paths)
        self.sandbox = sandbox
        self.task_hash = task_hash
        self.seed = spec.seeds.values[0]
        self.names = tuple(spec.program.files)
        self._numbers = itertools.count(self._first_number())
        self._lock = threading.Lock()
        self._running: GroupProcess | None = None
        self._cancelled = threading.Event()

    def __call__(self, files: Mapping[str, str]) -> str | None:
        if self._cancelled.is_set():
            return None  # the run is ending: no verdict from a trial that did not run
        number = next(self._numbers)
        folder = self.root / str(number)
        program = folder / "program"
        shutil.rmtree(folder, ignore_errors=True)
        for name, text in files.items():
            path = program / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        job = make_job(self.task, program, folder / "job", self.seed,
                       self.task.spec.metric.name, self.data_paths, key=f"trial-{number}",
                       sandbox=self.sandbox, task_hash=self.task_hash)
        result = run_job(job, on_start=self._started, cancelled=self._cancelled)
        with self._lock:
            self._running = None
        shutil.rmtree(program, ignore_errors=True)  # the node keeps the program, if it is one
        if self._cancelled.is_set():
            return None
        if not result.ok:
            traceback = program_traceback(job.program_log, self.names)
            return f"{result.reason}" + (f"\n\n{traceback}" if traceback else "")
        blocking = [f for f in harness_findings(result.metrics, 0, self.seed) if f.blocking]
        if blocking:
            return "; ".join(f"{f.check}: {f.message}" for f in blocking)
        return None

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            running = self._running
        if running is not None:
            running.cancel()

    def _started(self, proc: GroupProcess) -> None:
        with self._lock:
            self._running = proc

    def _first_number(self) -> int:
        """After the trials of an earlier session of the run: a resumed run keeps them."""
        numbers = [int(p.name) for p in self.root.glob("*") if p.name.isdigit()]
        return max(numbers, default=0) + 1


def _numbers(*values: object) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
