"""Engine overhead: worker time lost to the loop itself.

A worker is lost to the loop when it holds no experiment although there is one to start: the
loop is recording a result, judging, proposing or applying a patch. Measured as

    overhead = workers x wall time - experiment time - starved time

where experiment time runs from a job's submission to the moment its process ended (taken in the
executor's thread, not when the loop got round to it), and starved time is worker time in which
the loop had looked and found nothing to start (the budget spent, or every node waiting on runs
in flight). Sessions add up; the totals live in the run's meta, as `engine`.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any


class OverheadMeter:
    def __init__(self, workers: int, before: dict[str, float] | None = None):
        self.workers = workers
        self._before = {k: float(v) for k, v in (before or {}).items()
                        if k in ("slot_seconds", "experiment_seconds", "starved_seconds")}
        self._start = time.monotonic()
        self._experiment = 0.0
        self._starved = 0.0
        self._lock = threading.Lock()
        self._open: dict[int, float] = {}  # id(future) -> submitted at
        self._mark: float | None = None
        self._free = 0

    def submitted(self, future: Future) -> None:
        key, now = id(future), time.monotonic()
        with self._lock:
            self._open[key] = now
        future.add_done_callback(lambda f: self._ended(key))

    def _ended(self, key: int) -> None:
        with self._lock:
            started = self._open.pop(key, None)
            if started is not None:
                self._experiment += time.monotonic() - started

    def filled(self, in_flight: int) -> None:
        """The loop has just started all it could: free workers from now on are starved."""
        self._close_mark()
        self._mark, self._free = time.monotonic(), max(0, self.workers - in_flight)

    def woke(self) -> None:
        """The loop stopped waiting: what it does next is overhead until it fills again."""
        self._close_mark()

    def _close_mark(self) -> None:
        if self._mark is not None:
            self._starved += self._free * (time.monotonic() - self._mark)
            self._mark = None

    def totals(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            running = sum(now - t for t in self._open.values())
            experiment = self._experiment + running
        starved = self._starved + (self._free * (now - self._mark) if self._mark else 0.0)
        slot = self.workers * (now - self._start)
        b = self._before
        return {"slot_seconds": b.get("slot_seconds", 0.0) + slot,
                "experiment_seconds": b.get("experiment_seconds", 0.0) + experiment,
                "starved_seconds": b.get("starved_seconds", 0.0) + starved}


def engine_summary(totals: dict[str, float] | None, wall_seconds: float, decided: int,
                   finished: int) -> dict[str, Any]:
    """The report's view of a run's engine: overhead and throughput."""
    t = totals or {}
    slot = t.get("slot_seconds", 0.0)
    overhead = max(0.0, slot - t.get("experiment_seconds", 0.0) - t.get("starved_seconds", 0.0))
    hours = wall_seconds / 3600
    return {
        "wall_seconds": wall_seconds,
        "worker_seconds": slot,
        "experiment_seconds": t.get("experiment_seconds"),
        "starved_seconds": t.get("starved_seconds"),
        "overhead_seconds": overhead if totals else None,
        "overhead_fraction": overhead / slot if slot else None,
        "decided": decided,
        "decided_per_hour": decided / hours if hours else None,
        "experiments_finished": finished,
        "experiments_per_hour": finished / hours if hours else None,
    }
