"""Running one untrusted program: its bare environment, the sandbox's prefix and init, a
deadline that kills everything the program started, and the init's usage report."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any

from recursor.harness.errors import HarnessError, NoSandbox, Overtime


def child_env(scratch: str, threads: int) -> dict[str, str]:
    """The environment a program gets: no keys, no paths into the harness or the data; its
    home and temporary folder are the scratch folder."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": scratch,
        "TMPDIR": scratch,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        # HOME is the writable scratch folder: without this, a run could plant a
        # usercustomize.py or a .pth file there that the next Python started in it would run
        "PYTHONNOUSERSITE": "1",
        "RECURSOR_THREADS": str(threads),
    }
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def die_with(parent: int) -> None:
    """Run in a forked child before its exec: die when `parent` dies (recursor itself killed
    with -9 takes the harness, and so the program, with it), also when it already died between
    the fork and here, which no death signal would report (seen: an orphaned sandbox trained
    on after its run was killed)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(137)


def spawn(argv: Sequence[str], cwd: str, env: Mapping[str, str], log: IO[bytes] | int,
          pass_fds: Sequence[int]) -> subprocess.Popen:
    harness = os.getpid()
    # the child stays in the harness's process group, so that recursor's kill reaches it too
    return subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, pass_fds=tuple(pass_fds),
                            preexec_fn=lambda: die_with(harness))


def run_child(argv: Sequence[str], cwd: str, env: Mapping[str, str], seconds: float, what: str,
              log: IO[bytes] | int, sandbox: Mapping[str, Any] | None,
              pass_fds: Sequence[int] = ()) -> tuple[subprocess.Popen, Watch]:
    """Start the program through the sandbox's prefix and init (required: see NoSandbox);
    `.wait()` on the returned watch gives the init's usage report or raises HarnessError.

    `log` takes the program's stdout and stderr (a file, or a pipe's write end). `cwd` is where
    the sandbox starts; under bwrap the program starts in the first writable path whatever it
    says (`run_program` starts it in a folder of your choice)."""
    if not sandbox or not sandbox.get("prefix"):
        raise NoSandbox()
    report_r, report_w = os.pipe()
    argv = [*sandbox["prefix"], str(report_w), "--", *argv]
    pass_fds = (*pass_fds, report_w)
    try:
        proc = spawn(argv, cwd, env, log, pass_fds)
    except BaseException:
        os.close(report_r)
        raise
    finally:
        os.close(report_w)
    return proc, Watch(proc, seconds, what, report_r)


class Watch:
    """Waits for a child, killing it and all it started past its deadline; returns the init's
    usage report (cpu, wall, strays) when there is one."""

    def __init__(self, proc: subprocess.Popen, seconds: float, what: str,
                 report_fd: int | None = None):
        self.proc, self.seconds, self.what = proc, seconds, what
        self.report_fd = report_fd
        self.report: dict[str, Any] = {}
        if report_fd is not None:
            self._reader = threading.Thread(target=self._read_report, daemon=True)
            self._reader.start()

    def _read_report(self) -> None:
        with os.fdopen(self.report_fd, "r") as f:
            for line in f:
                with contextlib.suppress(json.JSONDecodeError):
                    self.report = json.loads(line)

    def wait(self) -> dict[str, Any]:
        t0 = time.time()
        try:
            code = self.proc.wait(timeout=self.seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            kill_strays()
            raise Overtime(
                f"{self.what} exceeded its wall-clock cap of {self.seconds:g} s") from None
        kill_strays()  # nothing the program started may outlive it
        if self.report_fd is not None:
            self._reader.join(timeout=5)
            if code == 0 and "exit" not in self.report:
                # a success nobody vouches for: the init was killed or the program forged
                # an exit; either way the run cannot be audited, so it does not count
                raise HarnessError(f"{self.what} left no usage report from the sandbox's init "
                                   "(it was killed, or the sandbox failed); the run cannot be "
                                   "audited")
        self.report.setdefault("wall", time.time() - t0)
        if code != 0:
            raise HarnessError(f"{self.what} failed with {how(code, self.report)}")
        return self.report


def how(code: int, report: Mapping[str, Any]) -> str:
    """How a program ended, for its failure message: an exit code, or the signal that killed it
    (and the CPU it had used, when that signal is a CPU cap's)."""
    if code >= 0:
        return f"exit code {code}"
    text = f"signal {-code} ({signal.Signals(-code).name})"
    if code in (-signal.SIGXCPU, -signal.SIGKILL) and report.get("cpu"):
        text += f" after {report['cpu']:.0f} s of CPU"
    return text


def kill_strays() -> None:
    """Kill every process of the harness's group but the harness itself."""
    me = os.getpid()
    group = os.getpgid(0)
    if group != me:  # not a group leader (run by hand from a shell): leave the shell's group alone
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            if os.getpgid(int(entry)) == group:
                os.kill(int(entry), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:  # reap our own dead children
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
