"""One real experiment of a task's baseline, for `recursor validate --run`: does the harness
run, does it write the metric, what did the program and the harness print.

The job is the loop's own (`recursor.loop.jobs.make_job`: the same config, sandbox, limits and
executor), so a harness that passes here meets the same contract in a run.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from recursor.executor.job import tail
from recursor.executor.local import run_job
from recursor.executor.sandbox import detect
from recursor.loop.jobs import make_job, resolve_data
from recursor.task.folder import Task


@dataclass(frozen=True)
class BaselineRun:
    """What one baseline experiment gave."""

    ok: bool
    metric: str
    value: float | None
    reason: str | None
    seed: int
    sandbox: str
    seconds: float
    curve_points: int
    with_progress: int  # curve points that carry `progress`
    with_curve: int  # ... and the task's metric.curve quantity
    logs: dict[str, str] = field(default_factory=dict)  # log file name -> its last lines
    job_dir: Path | None = None  # kept only when asked


def run_baseline_once(task: Task, *, seed: int | None = None, sandbox: str = "auto",
                      keep: bool = False, lines: int = 15) -> BaselineRun:
    """Run the task's baseline program through its harness once, on `seed` (default: the
    task's first), in the sandbox the loop would use; with `keep`, leave its job folder (the
    config, the metrics file, the logs) and say where."""
    box = detect(sandbox)
    seed = task.spec.seeds.values[0] if seed is None else seed
    metric = task.spec.metric.name
    folder = Path(tempfile.mkdtemp(prefix=f"recursor-validate-{task.name}-"))
    try:
        # the baseline program is the task folder's own files; make_job copies the folder it
        # is given, so give it just those
        program = folder / "program"
        for rel in task.spec.program.files:
            (program / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(task.root / rel, program / rel)
        job = make_job(task, program, folder / "job", seed, metric, resolve_data(task),
                       sandbox=box, key="validate")
        result = run_job(job)
        logs = {p.name: tail(p, lines) for p in sorted(job.job_dir.glob("*.log"))}
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    curve_name = task.spec.metric.curve
    progress = [p for p in result.curve if "progress" in p]
    return BaselineRun(
        ok=result.ok, metric=metric, value=result.value, reason=result.reason, seed=seed,
        sandbox=box.kind, seconds=result.seconds, curve_points=len(result.curve),
        with_progress=len(progress),
        with_curve=sum(1 for p in progress if curve_name and curve_name in p),
        logs=logs, job_dir=folder / "job" if keep else None)
