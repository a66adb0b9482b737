"""Engine overhead: worker time lost to the loop itself.

A worker is lost to the loop when it holds no experiment although there is one to start: the
loop is recording a result, judging, or applying a patch. Measured as

    overhead = workers x wall time - experiment time - starved time - waiting time

where experiment time runs from a job's submission to the moment its process ended (taken in the
executor's thread, not when the loop got round to it), starved time is worker time in which the
loop had looked and found nothing to start (the budget spent, or every node waiting on runs in
flight), and waiting time is worker time free while a proposal was out and nothing else could
run: the proposer's share, which proposing ahead (`RunConfig.propose_ahead`) is there to cut.
Sessions add up; the totals live in the run's meta, as `engine` (runs from before waiting time
was measured count it as overhead).
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
                        if k in ("slot_seconds", "experiment_seconds", "starved_seconds",
                                 "waiting_seconds")}
        self._start = time.monotonic()
        self._experiment = 0.0
        self._starved = 0.0
        self._waiting = 0.0
        self._lock = threading.Lock()
        self._open: dict[int, float] = {}  # id(future) -> submitted at
        self._mark: float | None = None
        self._free = 0
        self._for_proposal = False  # the free workers wait on a proposal, not for lack of work

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

    def filled(self, in_flight: int, proposal_out: bool = False) -> None:
        """The loop has just started all it could: free workers from now on are starved, or,
        with a `proposal_out`, waiting on it."""
        self._close_mark()
        self._mark, self._free = time.monotonic(), max(0, self.workers - in_flight)
        self._for_proposal = proposal_out

    def woke(self) -> None:
        """The loop stopped waiting: what it does next is overhead until it fills again."""
        self._close_mark()

    def _close_mark(self) -> None:
        if self._mark is not None:
            idle = self._free * (time.monotonic() - self._mark)
            if self._for_proposal:
                self._waiting += idle
            else:
                self._starved += idle
            self._mark = None

    def totals(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            running = sum(now - t for t in self._open.values())
            experiment = self._experiment + running
        idle = self._free * (now - self._mark) if self._mark else 0.0
        starved = self._starved + (0.0 if self._for_proposal else idle)
        waiting = self._waiting + (idle if self._for_proposal else 0.0)
        slot = self.workers * (now - self._start)
        b = self._before
        return {"slot_seconds": b.get("slot_seconds", 0.0) + slot,
                "experiment_seconds": b.get("experiment_seconds", 0.0) + experiment,
                "starved_seconds": b.get("starved_seconds", 0.0) + starved,
                "waiting_seconds": b.get("waiting_seconds", 0.0) + waiting}


def engine_summary(totals: dict[str, float] | None, wall_seconds: float, decided: int,
                   finished: int) -> dict[str, Any]:
    """The report's view of a run's engine: overhead, time waiting on proposals, throughput."""
    t = totals or {}
    slot = t.get("slot_seconds", 0.0)
    waiting = t.get("waiting_seconds")  # None: a run from before it was measured
    overhead = max(0.0, slot - t.get("experiment_seconds", 0.0) - t.get("starved_seconds", 0.0)
                   - (waiting or 0.0))
    hours = wall_seconds / 3600
    return {
        "wall_seconds": wall_seconds,
        "worker_seconds": slot,
        "experiment_seconds": t.get("experiment_seconds"),
        "starved_seconds": t.get("starved_seconds"),
        "overhead_seconds": overhead if totals else None,
        "overhead_fraction": overhead / slot if slot else None,
        "waiting_seconds": waiting,
        "waiting_fraction": waiting / slot if slot and waiting is not None else None,
        "decided": decided,
        "decided_per_hour": decided / hours if hours else None,
        "experiments_finished": finished,
        "experiments_per_hour": finished / hours if hours else None,
    }
