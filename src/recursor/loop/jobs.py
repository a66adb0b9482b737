"""Turning (task, program, seed, evaluation) into the executor's job for the task's harness."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from recursor.executor.job import Job
from recursor.executor.sandbox import Sandbox, detect
from recursor.task import Task


def make_job(
    task: Task,
    program: Path,
    job_dir: Path,
    seed: int,
    evaluation: str,
    data_paths: Mapping[str, str],
    key: str = "",
    sandbox: Sandbox | None = None,
) -> Job:
    """A job that runs `task`'s harness on a fresh copy of the program in `program`.

    Every job gets its own copy: a program that rewrites its own files can reach neither the
    node's workspace nor the other seeds.
    """
    spec = task.spec
    # the harness runs in the task folder: every path it is given must not depend on our cwd
    job_dir, program = Path(job_dir).resolve(), Path(program).resolve()
    scratch = job_dir / "scratch"
    workspace = scratch / "program"
    shutil.copytree(program, workspace)
    box = sandbox or detect("none")
    # the program may write its scratch folder (its own copy of the program is inside) and
    # nothing else; it reads the Python installation, and nothing of the task or the data
    confinement = box.harness_config(
        writable=[str(scratch)], readonly=[], memory_mb=spec.limits.memory_mb,
        cpu_seconds=int(spec.limits.timeout_seconds * max(1, spec.limits.threads)),
    )
    return Job(
        key=key or job_dir.name,
        command=tuple(task.harness_command()),
        task_dir=task.root,
        job_dir=job_dir,
        config={
            "task": spec.name,
            "seed": seed,
            "workspace": str(workspace),
            "data": [{"name": d.name, "path": data_paths[d.name], "sha256": d.sha256}
                     for d in spec.data],
            "budget": spec.budget,
            "settings": spec.settings,
            "evaluation": spec.evaluation(evaluation).model_dump(),
            "sandbox": confinement,
        },
        limits=spec.limits,
        evaluation=evaluation,
    )


def resolve_data(task: Task) -> dict[str, str]:
    """Name -> path of a verified copy of every data file the task declares."""
    from recursor.task.data import resolve

    return {d.name: str(resolve(d)) for d in task.spec.data}
