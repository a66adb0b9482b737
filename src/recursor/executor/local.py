"""The local executor: experiments as isolated process groups, N at a time.

Threads only wait: each experiment runs in a process group of its own, so a thread per running
experiment costs nothing and lets the loop keep proposing and judging while experiments run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import recursor
from recursor.executor.job import (
    Job,
    JobResult,
    forged_records,
    last_exception,
    read_metrics,
)
from recursor.executor.process import GroupProcess

# the environment an experiment gets: these from ours, nothing else (no keys, no tokens)
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ")


def experiment_env(job: Job, config_path: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    threads = str(job.limits.threads)
    env.update(
        HOME=str(job.scratch),
        TMPDIR=str(job.scratch),
        PYTHONPATH=str(Path(recursor.__file__).resolve().parents[1]),
        PYTHONNOUSERSITE="1",
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        OMP_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        OPENBLAS_NUM_THREADS=threads,
        # idle OpenMP threads sleep rather than spin: a harness that times something (the
        # kernel tasks') must not have its own threads burning the cores it measures on
        OMP_WAIT_POLICY="PASSIVE",
        RECURSOR_CONFIG=str(config_path),
        RECURSOR_SEED=str(job.config.get("seed", "")),
        RECURSOR_WORKSPACE=str(job.config.get("workspace", "")),
        RECURSOR_SCRATCH=str(job.scratch),
        RECURSOR_METRICS=str(job.metrics_file),
        RECURSOR_SIGNATURE=job.token,
    )
    return env


def resolve_command(command: tuple[str, ...]) -> list[str]:
    return [part.replace("{python}", sys.executable) for part in command]


def run_job(job: Job, on_start=None, cancelled: threading.Event | None = None) -> JobResult:
    """Run one experiment to its end, whatever happens to it, and say what happened."""
    config_path = job.prepare()
    proc = GroupProcess(
        resolve_command(job.command),
        cwd=job.task_dir,
        env=experiment_env(job, config_path),
        log=job.harness_log,
        memory_mb=job.limits.memory_mb,
    )
    (job.job_dir / "pid").write_text(str(proc.pid))
    if on_start:
        on_start(proc)
    if cancelled is not None and cancelled.is_set():
        proc.cancel()
    outcome = proc.wait(timeout=job.limits.timeout_seconds)
    job.cleanup()
    curve, result, error = read_metrics(job.metrics_file, job.token)
    forged = forged_records(job.metrics_file, job.token)

    value = None
    if result is not None:
        value = result.get("metrics", {}).get(job.evaluation)
    if forged:
        reason = (f"the metrics file holds {forged} line(s) its harness did not write: the "
                  "program reached it (possible only under a weaker sandbox than bwrap), so "
                  "nothing in it is trusted")
        result = None
    elif outcome.timed_out:
        reason = (f"experiment exceeded the time limit of {job.limits.timeout_seconds:g} s "
                  "and was killed with everything it started")
    elif outcome.cancelled:
        reason = "cancelled: the run was interrupted"
    elif error is not None:
        cause = last_exception(job.program_log)
        reason = f"{error}: {cause}" if cause and cause not in error else error
    elif result is None:
        cause = last_exception(job.harness_log, job.program_log)
        reason = f"the harness {outcome.describe()} without a result"
        reason += f": {cause}" if cause else " (see harness.log)"
    elif not isinstance(value, (int, float)) or value != value:
        reason = f"the harness's result has no numeric '{job.evaluation}' (got {value!r})"
    else:
        reason = None
    metrics = result or {}
    return JobResult(
        key=job.key,
        ok=reason is None,
        value=float(value) if reason is None else None,
        metrics=metrics,
        reason=reason,
        seconds=outcome.seconds,
        curve=curve,
    )


class LocalExecutor:
    """Runs jobs on this machine, `workers` at a time. `submit` never blocks on an experiment."""

    def __init__(self, workers: int):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="experiment")
        self._running: dict[str, GroupProcess] = {}
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._stopped: set[str] = set()  # keys cancelled before they started

    def submit(self, job: Job) -> Future[JobResult]:
        return self._pool.submit(self._run, job)

    def _run(self, job: Job) -> JobResult:
        def started(proc: GroupProcess) -> None:
            with self._lock:
                self._running[job.key] = proc

        with self._lock:
            stopped = job.key in self._stopped
            self._stopped.discard(job.key)
        if self._cancelled.is_set() or stopped:
            return JobResult(job.key, False, None, {}, "cancelled: the run was interrupted", 0.0)
        try:
            return run_job(job, on_start=started, cancelled=self._cancelled)
        finally:
            with self._lock:
                self._running.pop(job.key, None)

    def cancel(self, key: str) -> None:
        """Kill one experiment and everything it started (the value function stopped it); its
        future ends with a cancelled result. A job still queued does not start."""
        with self._lock:
            proc = self._running.get(key)
            if proc is None:
                self._stopped.add(key)
        if proc is not None:
            proc.cancel()

    def cancel_all(self) -> None:
        """Kill every running experiment and everything it started; queued ones do not start."""
        self._cancelled.set()
        with self._lock:
            running = list(self._running.values())
        for proc in running:
            proc.cancel()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def kill_orphan(job_dir: Path | None) -> None:
    """Kill what a killed run left of an experiment: members of its process group that are
    provably its own (they carry its config in their environment or run inside its folder)."""
    if job_dir is None or not (job_dir / "pid").exists():
        return
    job_dir = job_dir.resolve()  # as make_job wrote it into the experiment's environment
    try:
        pgid = int((job_dir / "pid").read_text())
    except ValueError:
        return
    marker = f"RECURSOR_CONFIG={job_dir / 'config.json'}".encode()
    roots = (str(job_dir), _scratch_of(job_dir))
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getpgid(pid) != pgid:
                continue
            ours = marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            ours = ours or os.readlink(f"/proc/{pid}/cwd").startswith(roots)
            if ours:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
    # checkpoints and data copies, not evidence; outside the run folder under a weaker sandbox
    shutil.rmtree(roots[1], ignore_errors=True)


def _scratch_of(job_dir: Path) -> str:
    """The job's scratch folder, which a weaker sandbox puts outside the job folder."""
    try:
        scratch = json.loads((job_dir / "config.json").read_text()).get("scratch")
    except (OSError, ValueError, AttributeError):
        scratch = None
    return str(scratch) if isinstance(scratch, str) and scratch else str(job_dir / "scratch")
