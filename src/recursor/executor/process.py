"""One command as its own process group, with a hard time limit that kills the whole group.

The anchors' failures this avoids: a thread-based timeout that cannot stop the evaluation, and a
kill that reaches only the direct child while its children keep running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TERM_GRACE_SECONDS = 3.0  # between SIGTERM and SIGKILL


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None when killed for the time limit or a cancel
    seconds: float
    timed_out: bool = False
    cancelled: bool = False

    def describe(self) -> str:
        if self.timed_out:
            return f"killed at the time limit after {self.seconds:.0f} s"
        if self.cancelled:
            return "cancelled"
        code = self.returncode
        if code is None or code == 0:
            return "exited normally"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else ""
            return f"killed by signal {-code} {name}".rstrip()
        return f"exited with code {code}"


class GroupProcess:
    """A started command; `wait` enforces its deadline, `kill` ends it and all it started."""

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        log: Path,
        memory_mb: int,
    ):
        launch = [
            sys.executable, "-m", "recursor.executor.launch",
            "--memory-mb", str(memory_mb), "--parent", str(os.getpid()), "--", *argv,
        ]
        self._started = time.monotonic()
        self._cancelled = threading.Event()
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                launch,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own: killpg reaches every descendant
                close_fds=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float) -> Outcome:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return Outcome(None, self._elapsed(), timed_out=not self._cancelled.is_set(),
                           cancelled=self._cancelled.is_set())
        # the leader is gone; whatever it left behind in its group goes too
        kill_group(self.proc.pid, signal.SIGKILL)
        if self._cancelled.is_set():
            return Outcome(None, self._elapsed(), cancelled=True)
        return Outcome(code, self._elapsed())

    def cancel(self) -> None:
        self._cancelled.set()
        self.kill()

    def kill(self) -> None:
        kill_group(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=TERM_GRACE_SECONDS)
        kill_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def _elapsed(self) -> float:
        return time.monotonic() - self._started


def kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
