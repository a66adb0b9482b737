"""Turning (task, program, seed, evaluation) into the executor's job for the task's harness;
the job in flight."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recursor.discoveries.records import program_hash
from recursor.executor.job import Job, JobResult
from recursor.executor.sandbox import Sandbox
from recursor.store import EvalStatus, Evaluation, Node
from recursor.task import Task
from recursor.task.objectives import harness_evaluation


@dataclass
class Flight:
    """A job the loop has submitted and not yet recorded; `stage` is why it runs."""

    evaluation: Evaluation
    stage: str
    future: Future[JobResult]
    job: Job
    started: float


def make_job(
    task: Task,
    program: Path,
    job_dir: Path,
    seed: int,
    evaluation: str,
    data_paths: Mapping[str, str],
    *,
    sandbox: Sandbox,
    key: str = "",
    parent_usage: Sequence[Mapping[str, Any]] = (),
    task_hash: str | None = None,
) -> Job:
    """A job that runs `task`'s harness on a fresh copy of the program in `program`.

    `sandbox` is required: no candidate runs without one (`Sandbox("none")` is the weakest,
    and only when the user asked for it). `parent_usage`: what the harness reported of the
    parent's runs of this evaluation (`usage`, `checkpoint_bytes`), the reference its cost
    audits compare the candidate with; empty for the baseline. `task_hash`: the task's
    `task_fingerprint`, when the caller has it already (it is made here otherwise); with the
    program's hash it goes on the job, for a result cache's key.
    """
    if not isinstance(sandbox, Sandbox):
        raise TypeError("make_job needs the sandbox to run the candidate in (recursor never "
                        "runs a candidate bare; Sandbox('none') is the weakest)")
    spec = task.spec
    # the harness runs in the task folder: every path it is given must not depend on our cwd
    job_dir, program = Path(job_dir).resolve(), Path(program).resolve()
    scratch = job_dir / "scratch" if sandbox.kind == "bwrap" else _outside(job_dir)
    workspace = scratch / "program"
    # the program may write its scratch folder and nothing else, not even its own files (read
    # only: nothing it changes there survives to its next run); it reads the Python
    # installation, and nothing of the task or the data
    confinement = sandbox.harness_config(
        writable=[str(scratch)], readonly=[str(workspace)], memory_mb=spec.limits.memory_mb,
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
            "evaluation": harness_evaluation(task, evaluation),
            "sandbox": confinement,
            "parent_usage": [dict(u) for u in parent_usage],
        },
        limits=spec.limits,
        evaluation=evaluation,
        scratch_dir=scratch,
        program_source=program,
        workspace_dir=workspace,
        task_hash=task_hash or task_fingerprint(task),
        program_hash=program_fingerprint(program),
    )


def task_fingerprint(task: Task) -> str:
    """The identity of a task folder as a seed run sees it: the task's name and every file of
    its folder but the editable program files (the program's hash holds those) and the idea
    library (which no harness reads: a run given more ideas runs the same seed runs). The
    overrides reach the harness in the job's config, which the cache's key holds too."""
    root = task.root
    editable = set(task.spec.program.editable)
    ideas = root / task.spec.ideas.dir
    digest = hashlib.sha256(task.name.encode() + b"\0")
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if (not path.is_file() or rel in editable or path.is_relative_to(ideas)
                or "__pycache__" in path.parts or path.suffix == ".pyc"):
            continue
        digest.update(rel.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def program_fingerprint(program: Path) -> str | None:
    """`program_hash` of the program in a folder, read as the store reads a node's program
    (so it is the hash the loop's integrity check records for the node); None when a file
    of it is not text."""
    try:
        return program_hash({str(p.relative_to(program)): p.read_text()
                             for p in sorted(program.rglob("*")) if p.is_file()})
    except (OSError, UnicodeError):
        return None


def _outside(job_dir: Path) -> Path:
    """A scratch folder for a weaker sandbox, outside the run folder: under `unshare` or `none`
    the program sees the whole file system, and a scratch folder inside the job's would put
    the job's config (with the data's paths) one `..` away. Named after the job, so that a
    killed run's leftovers are recognisable; made by `Job.prepare`."""
    digest = hashlib.sha256(str(job_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()).resolve() / f"recursor-scratch-{digest}"


def parent_usage(parent: Node, evaluation: str) -> list[dict[str, Any]]:
    """What the harness reported of the parent's own runs of `evaluation` (`usage`): the
    reference its cost audits hold a candidate to."""
    return [e.metrics["usage"] for e in parent.evaluations
            if e.evaluation == evaluation and e.status is EvalStatus.OK
            and isinstance(e.metrics.get("usage"), dict)]


def resolve_data(task: Task) -> dict[str, str]:
    """Name -> path of a verified copy of every data file the task declares."""
    from recursor.task.data import resolve

    return {d.name: str(resolve(d)) for d in task.spec.data}
