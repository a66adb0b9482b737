"""The executor contract: where the loop's experiments run.

The loop keeps at most `workers` jobs in flight, submits one whenever a worker is free, and
waits on the futures beside its proposal. A job's future always ends with a `JobResult`, a
failed or cancelled one included: an executor never lets an experiment's failure out as an
exception (the loop records one that does as an executor error, and goes on).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from recursor.executor.job import Job, JobResult


class Executor(Protocol):
    workers: int

    def submit(self, job: Job) -> Future[JobResult]:
        """Start `job` as soon as a worker is free; never blocks on an experiment."""
        ...

    def cancel(self, key: str) -> None:
        """Kill the job `key` and everything it started (the value function stopped its node);
        its future ends with a cancelled result. A job not started yet never starts."""
        ...

    def cancel_all(self) -> None:
        """Kill every job in flight; queued ones never start (the run is being interrupted)."""
        ...

    def shutdown(self) -> None:
        """Release the workers (and a Ray instance the executor started)."""
        ...
