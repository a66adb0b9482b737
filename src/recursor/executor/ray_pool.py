"""The Ray executor: the local pool's promises, with experiments placed on a Ray cluster.

    RayExecutor(workers=4)                      # a local Ray instance, stopped by shutdown()
    RayExecutor(workers=16, address="head:6379")  # join a running cluster; shutdown disconnects

Design: one Ray *task* per experiment, plus one small coordinator actor per executor.

- A task per job lets Ray do the placing: each job asks for `job.limits.threads` CPUs and runs
  on whichever node has them free, so no slot table or dispatcher lives here, and a lost node
  costs only the jobs that were on it. (An actor per worker slot would pin its CPUs to one node
  for the whole run, at the size of the first job, and need restarting when its node goes.)
  The loop keeps at most `workers` jobs in flight, so this is also the pool's width on a
  shared cluster.
- Each job still runs through `run_job`, in a process group of its own with its limits. That
  group is out of Ray's reach: `ray.cancel` raises KeyboardInterrupt at some point of the task
  or kills the worker process, and a killed worker leaves the experiment's group running. So a
  cancel goes through the coordinator: `cancel(key)` marks the job there; a watcher thread
  beside the job, in the worker, sees the mark and kills the whole group with
  `GroupProcess.cancel`, as the local pool does, and the job returns its ordinary cancelled
  result. A job claims its start at the coordinator (an actor runs one call at a time), so a
  cancel either finds it started or guarantees that it never starts.
- When the coordinator is gone (the run that owned it died) the watchers kill their
  experiments: a dead run leaves nothing running on the cluster.

The run folder must be on a file system that every Ray node shares, at the same path (NFS, a
cluster file system; trivially so for a local instance): the worker writes the job folder
(config, metrics file, logs, pid) and the loop reads it. The folder is created here before the
job is sent, and a worker that cannot see it fails the job with that reason. Each node also
needs recursor, the task's dependencies, the data at the same paths, and the sandbox.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
from concurrent.futures import Future, InvalidStateError, wait
from typing import Any

from recursor.errors import RecursorError
from recursor.executor.job import Job, JobResult
from recursor.executor.local import run_job
from recursor.executor.process import GroupProcess

POLL_SECONDS = 0.5  # how soon a running job notices that it was cancelled
CALL_TIMEOUT = 30.0  # a coordinator call slower than this: treat the coordinator as unreachable
CANCELLED = "cancelled: the run was interrupted"  # the local pool's words, for the same event


def import_ray() -> Any:
    """Ray, imported only when this executor is used: `import recursor` must stay light."""
    try:
        import ray
    except ImportError as err:
        raise RecursorError(f"the Ray executor needs Ray, which is not installed ({err}); "
                            "install it with: pip install 'recursor[ray]'") from None
    return ray


class Coordinator:
    """Which jobs started, which were cancelled. Runs as a Ray actor: each call is atomic."""

    def __init__(self) -> None:
        self.started: set[str] = set()  # never emptied: a finished job stays "started"
        self.cancelled: set[str] = set()
        self.stopping = False  # cancel_all: everything stops
        self.closed = False  # shutdown: nothing new starts

    def claim(self, key: str) -> bool:
        """A job asks to start; False if it was cancelled first, and then it must not start."""
        if self.stopping or self.closed or key in self.cancelled:
            return False
        self.started.add(key)
        return True

    def should_stop(self, key: str) -> bool:
        return self.stopping or key in self.cancelled

    def cancel(self, key: str) -> bool:
        """Mark a job cancelled; True if it had started (its watcher kills it, or it is done)."""
        self.cancelled.add(key)
        return key in self.started

    def cancel_all(self) -> list[str]:
        self.stopping = True
        return sorted(self.started)

    def close(self) -> list[str]:
        self.closed = True
        return sorted(self.started)


def run_on_worker(job: Job, coordinator: Any) -> JobResult:
    """The Ray task: run one job with `run_job`, killing its group if the coordinator says so."""
    if not job.job_dir.is_dir() or not job.task_dir.is_dir():
        return JobResult(job.key, False, None, {}, (
            f"the job folder {job.job_dir} or the task folder {job.task_dir} does not exist on "
            f"Ray node {socket.gethostname()}: the run folder must be on a file system every "
            "Ray node shares, at the same path"), 0.0)
    ray = import_ray()
    if not ray.get(coordinator.claim.remote(job.key), timeout=CALL_TIMEOUT):
        return JobResult(job.key, False, None, {}, CANCELLED, 0.0)
    cancelled, finished = threading.Event(), threading.Event()
    procs: list[GroupProcess] = []

    def watch() -> None:
        while not finished.wait(POLL_SECONDS):
            try:
                stop = ray.get(coordinator.should_stop.remote(job.key), timeout=CALL_TIMEOUT)
            except ray.exceptions.RayActorError as err:
                # unavailable is transient (its node restarting); dead means the run is gone
                stop = type(err).__name__ != "ActorUnavailableError"
            except ray.exceptions.GetTimeoutError:
                continue
            if stop:
                # run_job checks `cancelled` right after starting the group, so a cancel that
                # lands before `procs` has it is not lost
                cancelled.set()
                for proc in list(procs):
                    proc.cancel()
                return

    threading.Thread(target=watch, name=f"watch-{job.key}", daemon=True).start()
    try:
        return run_job(job, on_start=procs.append, cancelled=cancelled)
    finally:
        finished.set()


class RayExecutor:
    """Runs jobs as Ray tasks. `submit` never blocks on an experiment.

    `threads` sizes a local instance (`workers * threads` CPUs); on a cluster, each job asks
    Ray for its own `job.limits.threads` CPUs.
    """

    def __init__(self, workers: int, address: str | None = None, *, threads: int = 1):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers, self.address = workers, address
        ray = self._ray = import_ray()
        # a Ray the caller already connected (a notebook, a test) is theirs to stop, not ours
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            connect(ray, address, workers * max(1, threads))
        self._cpus = workers * max(1, threads) if self._owns_ray and not address else None
        self._slots = SLOT in ray.cluster_resources()  # an instance recursor started
        try:
            self._coordinator = ray.remote(num_cpus=0)(Coordinator).remote()
            # no retries: a job whose node died has half-written its folder; it fails with
            # Ray's reason, and the loop decides what runs again
            self._task = ray.remote(max_retries=0, retry_exceptions=False)(run_on_worker)
        except Exception as err:
            self._stop_ray()
            raise RecursorError(f"Ray started but could not run recursor's coordinator: "
                                f"{describe(err)}") from None
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[Future[JobResult], Any]] = {}  # key -> (future, ObjectRef)

    def submit(self, job: Job) -> Future[JobResult]:
        out: Future[JobResult] = Future()
        try:
            # a worker has another cwd, maybe another host: it gets absolute paths
            job = dataclasses.replace(job, task_dir=job.task_dir.resolve(),
                                      job_dir=job.job_dir.resolve())
            job.job_dir.mkdir(parents=True, exist_ok=True)  # the worker checks that it sees it
            threads = job.limits.threads
            if self._cpus is not None and threads > self._cpus:
                # Ray would queue it forever on an instance too small for it
                settle(out, JobResult(job.key, False, None, {}, (
                    f"the job needs {threads} CPUs and the local Ray instance has "
                    f"{self._cpus}"), 0.0))
                return out
            # on our own instance a job also holds slots, which Ray keeps while the job blocks
            # in ray.get (it lends the CPUs out then: a third job started beside two)
            slots = {"resources": {SLOT: threads}} if self._slots else {}
            ref = self._task.options(num_cpus=threads, **slots).remote(job, self._coordinator)
        except Exception as err:
            settle(out, failed(job.key, err))
            return out
        with self._lock:
            self._jobs[job.key] = (out, ref)
        ref.future().add_done_callback(lambda done: self._landed(job.key, out, done))
        return out

    def _landed(self, key: str, out: Future[JobResult], done: Future[Any]) -> None:
        try:
            result = done.result()
        except Exception as err:  # inside Ray: a failed experiment, never the loop's exception
            result = failed(key, err)
        with self._lock:
            if self._jobs.get(key, (None,))[0] is out:
                del self._jobs[key]
        settle(out, result)

    def cancel(self, key: str) -> None:
        """Kill one experiment and everything it started; its future ends with a cancelled
        result. A job not yet started never starts."""
        started = self._call("cancel", key)
        if not started:
            self._drop([key])

    def cancel_all(self) -> None:
        """Kill every running experiment and everything it started; queued ones do not start."""
        started = set(self._call("cancel_all") or ())
        with self._lock:
            queued = [k for k in self._jobs if k not in started]
        self._drop(queued)

    def shutdown(self) -> None:
        """Let running jobs finish (after `cancel_all`: their groups are being killed), drop
        queued ones, then stop the local Ray instance or disconnect from the cluster."""
        started = set(self._call("close") or ())
        with self._lock:
            queued = [k for k in self._jobs if k not in started]
        self._drop(queued)
        with self._lock:
            running = [out for out, _ in self._jobs.values()]
        wait(running)
        with contextlib.suppress(Exception):
            self._ray.kill(self._coordinator)
        self._stop_ray()

    def _call(self, method: str, *args: Any) -> Any:
        """A coordinator call; None when it cannot be reached (then every watcher stops its job)."""
        try:
            ref = getattr(self._coordinator, method).remote(*args)
            return self._ray.get(ref, timeout=CALL_TIMEOUT)
        except Exception:
            return None

    def _drop(self, keys: list[str]) -> None:
        """Resolve not-yet-started jobs as cancelled now, and take them out of Ray's queue."""
        for key in keys:
            with self._lock:
                out, ref = self._jobs.pop(key, (None, None))
            if out is None:
                continue
            # safe even if it is just starting: it has not claimed, so it will not run anything
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, recursive=False)
            settle(out, JobResult(key, False, None, {}, CANCELLED, 0.0))

    def _stop_ray(self) -> None:
        if self._owns_ray:
            with contextlib.suppress(Exception):
                self._ray.shutdown()
            self._owns_ray = False


SLOT = "recursor_slot"  # a local instance's experiment slots: one per CPU it was started with


def connect(ray: Any, address: str | None, cpus: int) -> None:
    """Join the cluster at `address`, or start a quiet local instance of `cpus` CPUs."""
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            # a local instance reports nothing home: experiments here run without a network
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            # "local": a new instance of our size, never a cluster that RAY_ADDRESS or the
            # last `ray start` on this machine points to (`--ray-address auto` joins those)
            ray.init(address="local", num_cpus=cpus, resources={SLOT: cpus},
                     include_dashboard=False, **quiet)
    except Exception as err:
        where = f"join the Ray cluster at {address}" if address else "start a local Ray instance"
        raise RecursorError(f"could not {where}: {describe(err)}") from None


def failed(key: str, err: BaseException) -> JobResult:
    """A job Ray could not run, as a failed result with Ray's reason."""
    if type(err).__name__ == "TaskCancelledError":
        return JobResult(key, False, None, {}, CANCELLED, 0.0)
    return JobResult(key, False, None, {}, f"Ray could not run the experiment: {describe(err)}",
                     0.0)


def describe(err: BaseException) -> str:
    # a RayTaskError carries the worker's exception as `cause`, and a traceback in its text
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        err = cause
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    text = lines[-1].strip() if lines else ""
    return f"{type(err).__name__}: {text}"[:500] if text else type(err).__name__


def settle(out: Future[JobResult], result: JobResult) -> None:
    """Resolve `out` once; a later, second answer for the same job is dropped."""
    with contextlib.suppress(InvalidStateError):
        out.set_result(result)
