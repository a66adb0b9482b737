"""What a trusted harness needs to run an untrusted program: its bare environment, the sandbox's
prefix and init, a deadline that kills everything the program started, the metrics file.

Shared by the built-in harnesses (tiny-lm's, the kernel tasks'); they run with recursor's
interpreter, so they import it. A harness of your own may use it too, or do the same its way.
"""

import contextlib
import ctypes
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time


class HarnessError(Exception):
    """A failure of the candidate, reported as the experiment's reason."""


class Overtime(HarnessError):
    """A run of the program went past its wall-clock cap (and was killed)."""


class Metrics:
    """The metrics file: one JSON object per line, written only by the harness, each signed
    with the job's token (`RECURSOR_SIGNATURE`, in the harness's environment only) when recursor
    gave one, so that a line the program wrote there (under a weaker sandbox) is told apart."""

    def __init__(self, path, token=None):
        self.path = path
        self.token = token if token is not None else os.environ.get("RECURSOR_SIGNATURE")
        self._lock = threading.Lock()

    def write(self, **record):
        if self.token:
            record["token"] = self.token
        with self._lock, open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")



def child_env(scratch, threads):
    # the candidate gets a bare environment: no keys, no paths into the harness or the data
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": scratch,
        "TMPDIR": scratch,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "RECURSOR_THREADS": str(threads),
    }
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def die_with(parent):
    """Run in a forked child before its exec: die when `parent` dies (recursor itself killed
    with -9 takes the harness, and so the program, with it), also when it already died between
    the fork and here, which no death signal would report (seen: an orphaned sandbox trained
    on after its run was killed)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(137)


def _spawn(argv, cwd, env, log, pass_fds):
    harness = os.getpid()
    # the child stays in the harness's process group, so that recursor's kill reaches it too
    return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, pass_fds=pass_fds,
                            preexec_fn=lambda: die_with(harness))


class NoSandbox(RuntimeError):
    """The harness was given no sandbox: a fault of the set-up, not of the candidate."""

    def __init__(self):
        super().__init__(
            "the harness's config names no sandbox: recursor runs every candidate through a "
            "sandbox's init, the weakest (`--sandbox none`) included, and never runs one bare; "
            "pass the config recursor.loop.jobs.make_job builds")


def run_child(argv, cwd, env, seconds, what, log, sandbox, pass_fds=()):
    """Start the program through the sandbox's prefix and init (required: see NoSandbox)."""
    if not sandbox or not sandbox.get("prefix"):
        raise NoSandbox()
    report_r, report_w = os.pipe()
    argv = [*sandbox["prefix"], str(report_w), "--", *argv]
    pass_fds = (*pass_fds, report_w)
    proc = _spawn(argv, cwd, env, log, pass_fds)
    os.close(report_w)
    return proc, _Watch(proc, seconds, what, report_r)


class _Watch:
    """Waits for a child, killing it and all it started past its deadline; returns the init's
    usage report (cpu, wall, strays) when there is one."""

    def __init__(self, proc, seconds, what, report_fd=None):
        self.proc, self.seconds, self.what = proc, seconds, what
        self.report_fd = report_fd
        self.report = {}
        if report_fd is not None:
            self._reader = threading.Thread(target=self._read_report, daemon=True)
            self._reader.start()

    def _read_report(self):
        with os.fdopen(self.report_fd, "r") as f:
            for line in f:
                with contextlib.suppress(json.JSONDecodeError):
                    self.report = json.loads(line)

    def wait(self):
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
            raise HarnessError(f"{self.what} failed with {_how(code, self.report)}")
        return self.report


def _how(code, report):
    """How a program ended, for its failure message: an exit code, or the signal that killed it
    (and the CPU it had used, when that signal is a CPU cap's)."""
    if code >= 0:
        return f"exit code {code}"
    how = f"signal {-code} ({signal.Signals(-code).name})"
    if code in (-signal.SIGXCPU, -signal.SIGKILL) and report.get("cpu"):
        how += f" after {report['cpu']:.0f} s of CPU"
    return how


class ProgramHost:
    """One sandbox that runs the program several times (tiny-lm: train, then predict), each run
    started by the same init, which imported `preload` once (see `sandbox_init --serve`).

    A fresh interpreter for each run would import torch again, 2.6 s of CPU here, which is two
    thirds of a short experiment. Each run is still a process of its own, forked from an init
    that has run none of the program's code, and audited as before: one usage report per run.
    A sandbox is required (see NoSandbox).
    """

    CLOSE_SECONDS = 10.0

    def __init__(self, sandbox, cwd, env, log, preload=()):
        self.cwd, self.env, self.log = cwd, env, log
        self.proc = None
        if not sandbox or not sandbox.get("prefix"):
            raise NoSandbox()
        self._socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        report_r, report_w = os.pipe()
        argv = [*sandbox["prefix"], str(report_w), "--serve", str(theirs.fileno())]
        for module in preload:
            argv += ["--preload", module]
        try:
            self.proc = _spawn(argv, cwd, env, log, (report_w, theirs.fileno()))
        finally:
            os.close(report_w)
            theirs.close()
        self._reports = queue.Queue()
        threading.Thread(target=self._read_reports, args=(report_r,), daemon=True).start()

    def _read_reports(self, fd):
        for report in json_lines(fd):
            self._reports.put(report)
        self._reports.put(None)  # the init is gone

    def start(self, argv, seconds, what, pass_fds=()):
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
                               f"{_how(self.proc.returncode, {})}") from None
        finally:
            os.close(out_w)
        copier = threading.Thread(target=_copy, args=(out_r, self.log), daemon=True)
        copier.start()
        return _HostedRun(self, seconds, what, copier)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        kill_strays()

    def close(self):
        """End the sandbox: the init leaves when its socket closes; whatever is left is killed."""
        if self._socket.fileno() < 0:
            return
        self._socket.close()
        try:
            self.proc.wait(timeout=self.CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
        kill_strays()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _HostedRun:
    """One run in a ProgramHost: waits for its report, past its deadline kills the sandbox."""

    def __init__(self, host, seconds, what, copier=None):
        self.host, self.seconds, self.what = host, seconds, what
        self.copier = copier

    def wait(self):
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
                raise HarnessError(f"{self.what} failed with {_how(code, {})}")
            raise HarnessError(f"{self.what} left no usage report from the sandbox's init (it "
                               "was killed, or the sandbox failed); the run cannot be audited")
        if "error" in report:  # the init refused the command: a fault of the harness, not the program
            raise RuntimeError(f"the sandbox's init refused {self.what}: {report['error']}")
        if report["exit"] != 0:
            raise HarnessError(f"{self.what} failed with {_how(report['exit'], report)}")
        return report


def _copy(fd, log):
    """Everything a run writes on its output pipe, into the log, until the pipe ends."""
    with os.fdopen(fd, "rb") as pipe:
        for chunk in iter(lambda: pipe.read1(1 << 16), b""):
            log.write(chunk)
            log.flush()


def kill_strays():
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



def finding(check, message, evidence="", blocking=True):
    return {"check": check, "blocking": blocking, "message": message, "evidence": evidence}


def json_lines(fd):
    """The JSON objects written one per line on a pipe by the program, until it closes (lines
    that are not a JSON object are skipped: the program's side of the pipe is untrusted)."""
    with os.fdopen(fd, "r") as pipe:
        for line in pipe:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


def harness_main(run) -> int:
    """A harness's entry point: read `RECURSOR_CONFIG`, call `run(config, metrics)`, write its
    result, or the candidate's failure (a HarnessError) as the experiment's reason. Either way
    the harness did its job: exit 0 (a crash of the harness itself exits non-zero)."""
    with open(os.environ["RECURSOR_CONFIG"]) as f:
        config = json.load(f)
    metrics = Metrics(config["metrics_file"])
    try:
        result = run(config, metrics)
    except HarnessError as err:
        metrics.write(type="error", reason=str(err))
        return 0
    metrics.write(type="result", **result)
    return 0
