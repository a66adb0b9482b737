"""One sandbox that runs the program several times, its init importing the heavy modules once."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

from recursor.harness.curve import json_lines
from recursor.harness.errors import HarnessError, NoSandbox, Overtime
from recursor.harness.process import how, kill_strays, spawn


class ProgramHost:
    """One sandbox that runs the program several times (tiny-lm: train, then predict), each run
    started by the same init, which imported `preload` once (see `sandbox_init --serve`).

    A fresh interpreter for each run would import torch again, 2.6 s of CPU here, which is two
    thirds of a short experiment. Each run is still a process of its own, forked from an init
    that has run none of the program's code, and audited as before: one usage report per run.
    A sandbox is required (see NoSandbox).
    """

    CLOSE_SECONDS = 10.0

    def __init__(self, sandbox: Mapping[str, Any] | None, cwd: str, env: Mapping[str, str],
                 log: IO[bytes], preload: Sequence[str] = ()):
        self.cwd, self.env, self.log = cwd, env, log
        self.proc: subprocess.Popen | None = None
        if not sandbox or not sandbox.get("prefix"):
            raise NoSandbox()
        self._socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        report_r, report_w = os.pipe()
        argv = [*sandbox["prefix"], str(report_w), "--serve", str(theirs.fileno())]
        for module in preload:
            argv += ["--preload", module]
        try:
            self.proc = spawn(argv, cwd, env, log, (report_w, theirs.fileno()))
        finally:
            os.close(report_w)
            theirs.close()
        self._reports: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_reports, args=(report_r,), daemon=True).start()

    def _read_reports(self, fd: int) -> None:
        for report in json_lines(fd):
            self._reports.put(report)
        self._reports.put(None)  # the init is gone

    def start(self, argv: Sequence[str], seconds: float, what: str,
              pass_fds: Sequence[int] = ()) -> HostedRun:
        """Start one run of the program; `.wait()` on the result gives its usage report.

        The run's stdout and stderr are a pipe of its own, which the host copies into the log:
        never the log file itself, which a program could open again through /proc/self/fd/1
        and read what an earlier run wrote there (a cache carried from one run to the next)."""
        out_r, out_w = os.pipe()
        fds = [*pass_fds, out_w, out_w]
        command = json.dumps({"argv": list(argv), "fds": [*pass_fds, 1, 2]}).encode()
        try:
            socket.send_fds(self._socket, [command], fds)
        except OSError:  # the init is gone: say how it ended
            os.close(out_r)
            self.close()
            raise HarnessError(f"{what} could not start: the sandbox's init ended with "
                               f"{how(self.proc.returncode, {})}") from None
        finally:
            os.close(out_w)
        copier = threading.Thread(target=_copy, args=(out_r, self.log), daemon=True)
        copier.start()
        return HostedRun(self, seconds, what, copier)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        kill_strays()

    def close(self) -> None:
        """End the sandbox: the init leaves when its socket closes; whatever is left is killed."""
        if self._socket.fileno() < 0:
            return
        self._socket.close()
        try:
            self.proc.wait(timeout=self.CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
        kill_strays()

    def __enter__(self) -> ProgramHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HostedRun:
    """One run in a ProgramHost: waits for its report, past its deadline kills the sandbox."""

    def __init__(self, host: ProgramHost, seconds: float, what: str,
                 copier: threading.Thread | None = None):
        self.host, self.seconds, self.what = host, seconds, what
        self.copier = copier

    def wait(self) -> dict[str, Any]:
        try:
            report = self.host._reports.get(timeout=self.seconds)
        except queue.Empty:
            self.host.kill()
            raise Overtime(
                f"{self.what} exceeded its wall-clock cap of {self.seconds:g} s") from None
        finally:
            if self.copier is not None:  # the run and its strays are gone: the pipe has ended
                self.copier.join(timeout=5)
        if report is None:  # the init died (killed, out of memory) before it could report
            self.host.close()
            code = self.host.proc.returncode
            if code:
                raise HarnessError(f"{self.what} failed with {how(code, {})}")
            raise HarnessError(f"{self.what} left no usage report from the sandbox's init (it "
                               "was killed, or the sandbox failed); the run cannot be audited")
        if "error" in report:  # the init refused the command: a fault of the harness, not the program
            raise RuntimeError(f"the sandbox's init refused {self.what}: {report['error']}")
        if report["exit"] != 0:
            raise HarnessError(f"{self.what} failed with {how(report['exit'], report)}")
        return report


def _copy(fd: int, log: IO[bytes]) -> None:
    """Everything a run writes on its output pipe, into the log, until the pipe ends."""
    with os.fdopen(fd, "rb") as pipe:
        for chunk in iter(lambda: pipe.read1(1 << 16), b""):
            log.write(chunk)
            log.flush()
