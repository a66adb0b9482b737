"""The first process inside a sandbox: run one untrusted program, then leave nothing behind.

    python sandbox_init.py [--memory-mb N] [--cpu-seconds N] [--group own|inherit]
                           --report-fd FD -- program argv...
    python sandbox_init.py [same options] --report-fd FD --serve SOCKET_FD [--preload MODULE]...

It runs inside the sandbox, before the program, so it imports the standard library only: no
recursor, no numpy (neither need be visible in there, and nothing of the program's may run
before the limits are set); with `--preload`, also the modules named, from the Python
installation. It is one file because it is bound into the sandbox alone.

What it does, and why:

- It becomes a *child subreaper*, so a process the program starts and abandons (an orphan, a
  double-forked daemon, one branch of a fork bomb) is re-parented to this init rather than to the
  machine's init, and so stays findable as a descendant after the program has exited.
- It starts the program with the memory cap (RLIMIT_AS) and the CPU-time cap (RLIMIT_CPU, both
  per process) set in the child between fork and exec, and with PR_SET_PDEATHSIG so that the
  program dies if the init is killed.
- The init itself stays in the process group it was started in, so a caller that kills its own
  group (the harness's or the executor's time limit) still reaches it; on SIGTERM, SIGINT or
  SIGHUP it forwards the signal to the program and what it started, then cleans up and reports.
- `--group own` (the default, for a sandbox with a pid namespace of its own): the program gets
  a process group of its own, so the init can signal it and its children as one unit and a
  `killpg` by the program cannot reach the caller. `--group inherit` (no sandbox around the
  init): the program stays in the caller's group, so that if the init is SIGKILLed before it can
  clean up, the caller's group kill still reaches the program's children, which no namespace
  would take down; the init then signals descendants one by one and never the group.
- After the program exits it kills every process still alive that descends from it (SIGKILL,
  again and again until none is left), reaps them, and counts them as "strays".
- It writes ONE JSON line to the report fd, which the harness reads; the program's own output
  never goes there:
  `{"exit": code (negative = killed by that signal), "wall": s, "cpu": s, "main_cpu": s|null,
  "max_rss_mb": MB, "strays": N, "cleared": N}`. `cpu` is user + system time of the program and of every
  descendant reaped (RUSAGE_CHILDREN), so work done in a child process is counted too;
  `main_cpu` is the CPU time of the program's main thread alone, last sampled (every 50 ms)
  before it exited, so `cpu - main_cpu` is what its other threads and processes used, whatever
  share of the machine it got; `max_rss_mb` is the peak resident memory of the largest of them.
  No report means the init itself was killed (or the sandbox around it): the caller must
  treat that as a failure, never as a success.
- With `--fresh DIR` (bwrap's private /tmp and /dev/shm) and `--fresh-ipc` it empties those
  folders and removes the sandbox's System V IPC objects after each program, so that a program
  run several times in one sandbox (`--serve`) cannot leave itself state between runs;
  `cleared` counts what was removed.
- It makes itself non-dumpable, so that a program without CAP_SYS_PTRACE (as under bwrap)
  can neither ptrace it nor open its report fd through /proc/<init>/fd to forge the report.
- It exits with the program's code (128 + N when the program was killed by signal N).

`--serve` runs several programs, one after the other, in the same sandbox: a harness that runs
the candidate twice (tiny-lm: train, then predict) sends each command as one message on a
SOCK_SEQPACKET socket, `{"argv": [...], "fds": [n, ...]}` with those fds attached (SCM_RIGHTS;
the program gets them under the numbers named), and reads one report line per command; the
init leaves when the harness closes the socket. With `--preload torch` the init imports torch
once, before any command, and a command whose argv is this interpreter running a script is not
exec'd but forked from the init and run there (`runpy`), already holding torch: what a fresh
interpreter would spend importing it (2.6 s of CPU here) is spent once per sandbox instead of
once per run. The fork is as fresh as an exec for the program: the init has run none of the
program's code, holds none of its data, and the fork closes the socket and the report fd, resets
the signal handlers, sets the limits and the process group exactly as for an exec; the caps
count from the fork. The preload is the Python installation's own module (the init's sys.path
holds neither the workspace nor the scratch folder), so a program cannot plant its own. A forked
run ends as `multiprocessing` ends its forked workers, without the interpreter's teardown of the
modules it inherited (0.7 s of CPU for torch), but with what a program can count on: threads
joined, atexit functions run, open files and the standard streams flushed (see `_leave`).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import fcntl
import gc
import importlib
import io
import json
import os
import resource
import runpy
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import NoReturn

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
CLEANUP_SECONDS = 10.0  # long enough to out-kill a fork bomb, short enough never to hang a run


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _proc_pids_consistent() -> bool:
    """Whether pids in /proc are the pids this process uses (same pid namespace).

    `unshare --pid` without a fresh /proc would show the host's numbering; then killing pids read
    from /proc would hit the wrong processes, so the scan is not used at all.
    """
    try:
        return os.readlink("/proc/self") == str(os.getpid())
    except OSError:
        return False


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of `pid`, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    # the command name is in parentheses and may itself hold spaces or ')'
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        return None


def descendants(root: int, group: int | None = None) -> dict[int, str]:
    """Every process below `root` (by parent links), plus any left in process group `group`.

    Returns {pid: state}. Because the init is a subreaper, an orphan's parent link leads back
    to it, so a process that called setsid() to leave the group is still found.
    """
    table: dict[int, tuple[str, int, int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {}
    for entry in entries:
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                table[int(entry)] = info
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, str] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in found or pid == root:
            continue
        found[pid] = table[pid][0]
        stack.extend(children.get(pid, []))
    if group is not None:
        for pid, (state, _, pgid) in table.items():
            if pgid == group and pid != root:
                found.setdefault(pid, state)
    return found


class MainThreadClock:
    """Samples the CPU time of one process's main thread until stopped.

    A thread's counters vanish with its process, so the last sample before the exit is the
    figure: it lags the truth by at most one interval, which only makes the other threads'
    share (total minus this) look larger by that much.
    """

    INTERVAL = 0.05

    def __init__(self, pid: int):
        self.path = f"/proc/{pid}/task/{pid}/stat"
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.seconds: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read(self) -> float | None:
        try:
            with open(self.path, "rb") as f:
                raw = f.read().decode(errors="replace")
        except OSError:
            return None
        fields = raw[raw.rfind(")") + 2 :].split()
        try:  # utime and stime, fields 14 and 15 of stat(5), 12 and 13 after the name
            return (int(fields[11]) + int(fields[12])) / self.ticks
        except (IndexError, ValueError):
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self._read()
            if value is not None:
                self.seconds = value
            self._stop.wait(self.INTERVAL)

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join()
        return self.seconds


def _reap() -> None:
    """Collect every exited child (ours or re-parented to us), without blocking."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_strays(group: int | None) -> int:
    """Kill everything the program left running; return how many live processes there were.

    `group`: the program's own process group, killed as a whole too; None when the program
    shares the caller's group, which must not be touched.
    """
    me = os.getpid()
    scan = _proc_pids_consistent()
    seen: set[int] = set()
    deadline = time.monotonic() + CLEANUP_SECONDS
    while True:
        # counted before the group kill, or the group's members would die uncounted
        found = descendants(me, group) if scan else {}
        alive = [pid for pid, state in found.items() if state not in ("Z", "X")]
        seen.update(alive)
        if group is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _reap()
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.01)  # SIGKILL is delivered asynchronously; then zombies reach us to reap
    return len(seen)


def empty(folder: str) -> int:
    """Remove everything inside `folder` (not the folder itself) that lies on the folder's own
    file system; how many entries were removed.

    Only for the sandbox's own private folders (bwrap's /tmp and /dev/shm): what one run wrote
    there must not reach the next run of the same sandbox (a predict call's cache of the windows
    it saw, read by the next call). Nothing on another device is touched: the folders bwrap
    mounts under /tmp to reach a given path there (and the given path itself, bound from the
    host) are mounts of their own, and the removal never enters one. A folder the program made
    unwritable is still its own."""
    try:
        device = os.stat(folder).st_dev
    except OSError:
        return 0
    return _remove_inside(folder, device)


def _remove_inside(folder: str, device: int) -> int:
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_dev != device:
                continue  # a mount point: not this file system's, not ours to empty
            if entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.chmod(entry.path, 0o700)
                _remove_inside(entry.path, device)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    return removed


IPC_RMID = 0
SYSV_IPC = ("shm", "msg", "sem")  # /proc/sysvipc/<kind>: the second column is the object's id


def remove_ipc() -> int:
    """Remove every System V shared memory segment, message queue and semaphore set of this
    IPC namespace (bwrap gives the sandbox its own): they outlive the process that made them,
    so a run could leave state there for the next one. How many there were."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return 0
    removers = {"shm": lambda i: libc.shmctl(i, IPC_RMID, None),
                "msg": lambda i: libc.msgctl(i, IPC_RMID, None),
                "sem": lambda i: libc.semctl(i, 0, IPC_RMID)}
    removed = 0
    for kind in SYSV_IPC:
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 1 and fields[1].isdigit() and removers[kind](int(fields[1])) == 0:
                removed += 1
    return removed


def _set_limits(memory_mb: int, cpu_seconds: int) -> None:
    if memory_mb > 0:
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu_seconds > 0:
        # soft: SIGXCPU, which a program may catch to save its work; hard, 2 s later: SIGKILL
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 2))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Become(BaseException):
    """Raised in a forked child to leave the init's code and run the program in its place (see
    the end of this file): the program then runs at the top level, as `python script.py` would,
    with the interpreter's own exit, atexit handlers and thread joins."""

    def __init__(self, argv: list[str]):
        super().__init__()
        self.argv = argv


def runs_here(argv: list[str]) -> bool:
    """Whether `argv` is this interpreter running a script, which a warm init can run itself."""
    if len(argv) < 2 or argv[1].startswith("-") or not argv[1].endswith(".py"):
        return False
    with contextlib.suppress(OSError):
        return os.path.samefile(argv[0], sys.executable)
    return False


def _place(fds: list[tuple[int, int]]) -> None:
    """Put each received fd under the number the program was told (src, dest), inheritable;
    through numbers above all of them first, so that no move overwrites one still to be made."""
    if not fds:
        return
    low = max(n for pair in fds for n in pair) + 1
    moved = [(fcntl.fcntl(src, fcntl.F_DUPFD, low), dest) for src, dest in fds]
    for src, _ in fds:
        os.close(src)
    for src, dest in moved:
        os.dup2(src, dest, inheritable=True)
        os.close(src)


def start(argv: list[str], memory_mb: int, cpu_seconds: int, own_group: bool,
          fds: list[tuple[int, int]] = (), release: Callable[[], None] | None = None,
          here: bool = False) -> int:
    """Fork and start the program under the limits; return its pid.

    `fds`: (fd, number) pairs the program gets; `release`: closes in the child what the init
    holds that the program must not (the serve socket); `here`: run the program in the forked
    child itself, without an exec (see `--preload`).
    """
    parent = os.getpid()
    _flush_std()  # or the child would write the init's buffer again
    with warnings.catch_warnings():  # 3.12+ warns when forking with threads (numpy's idle pool)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: nothing here may raise back into the init's code
        try:
            if release is not None:
                release()
            _place(list(fds))
            if own_group:
                os.setpgid(0, 0)
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the init died between the fork and the prctl
                os._exit(137)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            _set_limits(memory_mb, cpu_seconds)
            if not here:
                os.execvp(argv[0], argv)
            # what a fresh interpreter sets up: Python's own SIGINT and SIGPIPE handling, and a
            # process the program may inspect (the init made itself undumpable for the report fd,
            # which is closed now)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            _prctl(PR_SET_DUMPABLE, 1)
        except BaseException as err:  # noqa: BLE001 - report and leave, whatever it was
            try:
                os.write(2, f"sandbox_init: cannot start {argv[0]!r}: {err}\n".encode())
            finally:
                os._exit(127)
        raise Become(argv)
    for src, _ in fds:  # the program holds them now: a pipe's reader must see its end with it
        os.close(src)
    if own_group:
        # both sides set the group, so that neither a forwarded signal nor the cleanup sees it
        # half-made (EACCES once the child has exec'd, which is then fine)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
    return pid


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def wait_for(pid: int) -> tuple[int, int]:
    """The program's return code, subprocess-style (negative = killed by that signal), and its
    peak resident memory in KiB."""
    try:
        _, status, usage = os.wait4(pid, 0)  # retried by Python when a forwarded signal interrupts
    except ChildProcessError:
        return -signal.SIGKILL, 0
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss


def write_report(fd: int, record: dict) -> None:
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    except OSError as err:  # the harness will see no report and say so; leave a trace here
        os.write(2, f"sandbox_init: cannot write the report to fd {fd}: {err}\n".encode())


class Init:
    """Runs programs one at a time, forwards the caller's signals to the one running, cleans up
    after each and accounts for it."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.own_group = args.group == "own"
        self.pid: int | None = None  # the program running now
        self.stopping = 0  # the signal that asked the init to stop, once one has
        self.idle = False  # serving, and waiting for the next command
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._forward)

    def _forward(self, signum: int, _frame: object) -> None:
        self.stopping = signum
        if self.idle:  # nothing to pass it to, nothing to report: leave
            raise SystemExit(128 + signum)
        pid = self.pid
        if pid is None:  # the program has ended: its report follows, then the init leaves
            return
        if self.own_group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signum)
            return
        # the caller's group may be signalled as a whole too: then the program gets it twice,
        # which the default action and any sane handler take in their stride
        found = descendants(os.getpid()) if _proc_pids_consistent() else {}
        for target in [pid, *found]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(target, signum)

    def run(self, command: list[str], fds: list[tuple[int, int]] = (),
            release: Callable[[], None] | None = None) -> dict:
        """Start one program, wait for it, kill what it left; its usage record."""
        args = self.args
        started = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        # preloaded (only when serving): this interpreter's scripts are forked, not exec'd
        here = bool(args.preload) and args.serve is not None and runs_here(command)
        self.pid = pid = start(command, args.memory_mb, args.cpu_seconds, self.own_group, fds,
                               release, here)
        # only where /proc numbers processes as we do (else the pid names someone else's thread)
        clock = MainThreadClock(pid) if _proc_pids_consistent() else None
        code, rss_kib = wait_for(pid)
        wall = time.monotonic() - started
        main_cpu = clock.stop() if clock else None
        strays = kill_strays(pid if self.own_group else None)
        self.pid = None
        # the sandbox's private folders and IPC: nothing of this run for the next one
        cleared = sum(empty(folder) for folder in args.fresh)
        if args.fresh_ipc:
            cleared += remove_ipc()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if after.ru_maxrss > before.ru_maxrss:  # a stray was the largest of them
            rss_kib = max(rss_kib, after.ru_maxrss)
        return {
            "exit": code,
            "wall": round(wall, 3),
            "cpu": round(cpu, 3),
            "main_cpu": None if main_cpu is None else round(main_cpu, 3),
            "max_rss_mb": round(rss_kib / 1024, 1),  # Linux reports KiB
            "strays": strays,
            "cleared": cleared,
        }

    def serve(self, sock: socket.socket, release: Callable[[], None]) -> int:
        """Run each command the socket brings, reporting each, until the harness closes it."""
        for name in self.args.preload:
            try:
                importlib.import_module(name)
            except Exception as err:  # noqa: BLE001 - the program will fail on it, or not need it
                os.write(2, f"sandbox_init: cannot preload {name}: {err!r}\n".encode())
        while not self.stopping:
            self.idle = True
            try:
                message, received, _, _ = socket.recv_fds(sock, 1 << 16, 64)
            except (OSError, ValueError):  # ValueError: more fds than asked for; both: give up
                return 1
            finally:
                self.idle = False
            if not message:
                return 0  # the harness is done
            if self.stopping:  # asked to stop while the command came in: run nothing more
                for fd in received:
                    os.close(fd)
                break
            try:
                command = json.loads(message)
                argv, numbers = command["argv"], command.get("fds", [])
                if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)
                        and len(numbers) == len(received)):
                    raise ValueError("expected argv: [str, ...] and one fd number per fd sent")
                pairs = list(zip(received, [int(n) for n in numbers], strict=True))
            except (ValueError, KeyError, TypeError) as err:
                for fd in received:
                    os.close(fd)
                write_report(self.args.report_fd, {"exit": 127, "error": f"bad command: {err}"})
                continue
            record = self.run(argv, pairs, release)
            write_report(self.args.report_fd, record)
        return 128 + self.stopping


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox_init")
    parser.add_argument("--memory-mb", type=int, default=0, help="address-space cap; 0: none")
    parser.add_argument("--cpu-seconds", type=int, default=0, help="CPU-time cap; 0: none")
    parser.add_argument("--group", choices=("own", "inherit"), default="own",
                        help="the program's process group: its own, or the caller's")
    parser.add_argument("--report-fd", type=int, required=True)
    parser.add_argument("--serve", type=int, metavar="SOCKET_FD",
                        help="run the commands sent on this socket, one report line each")
    parser.add_argument("--preload", action="append", default=[], metavar="MODULE",
                        help="with --serve: import this first; run this interpreter's scripts "
                             "in forks of the init")
    parser.add_argument("--fresh", action="append", default=[], metavar="DIR",
                        help="a private folder of the sandbox, emptied after each program")
    parser.add_argument("--fresh-ipc", action="store_true",
                        help="remove the sandbox's System V IPC objects after each program")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.serve is None and not command:
        parser.error("no program to run")
    if args.serve is not None and command:
        parser.error("--serve takes its programs from the socket, not the command line")

    try:  # the program must not write the report itself: the fd is closed on its exec
        os.set_inheritable(args.report_fd, False)
    except OSError as err:
        parser.error(f"--report-fd {args.report_fd} is not open: {err}")
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    # nor reach the report through /proc/<init>/fd or ptrace: that needs CAP_SYS_PTRACE now,
    # which the bwrap sandbox drops (the program's own exec makes it dumpable again)
    _prctl(PR_SET_DUMPABLE, 0)
    init = Init(args)
    report_fd = args.report_fd

    def release() -> None:  # in a forked program: what only the init may hold
        os.close(report_fd)
        if sock is not None:
            sock.close()

    sock = None
    if args.serve is not None:
        try:
            sock = socket.socket(fileno=args.serve)
            sock.set_inheritable(False)
        except OSError as err:
            parser.error(f"--serve {args.serve} is not a socket: {err}")
        code = init.serve(sock, release)
        os.close(report_fd)
        return code
    record = init.run(command, release=release)
    write_report(report_fd, record)
    os.close(report_fd)
    code = record["exit"]
    return code if code >= 0 else 128 - code


def _exit_code(code: object) -> int:
    """What the interpreter makes of `sys.exit(code)`: None is 0, an int itself, anything else
    is printed and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _leave(code: int) -> NoReturn:
    """End a forked program as the interpreter would, but without tearing down its modules.

    The teardown of an interpreter that holds torch takes 0.7 s of CPU here, a third of what
    the fork saves, and does nothing a program can count on (`multiprocessing` ends its forked
    workers the same way). What a program can count on is done, in the interpreter's order:
    its non-daemon threads are joined, its atexit functions run, every file it left open is
    flushed (the teardown would have closed it), then the standard streams.
    """
    with contextlib.suppress(Exception):
        threading._shutdown()  # the join the interpreter does first; private but stable (3.4+)
    atexit._run_exitfuncs()
    # by exact type: an isinstance over every object costs 0.26 s and wakes torch's deprecated
    # lazy attributes, which warn into the program's log
    buffered = (io.TextIOWrapper, io.BufferedWriter, io.BufferedRandom)
    for obj in gc.get_objects():
        if type(obj) in buffered:
            with contextlib.suppress(Exception):
                if not obj.closed:
                    obj.flush()
    _flush_std()
    if code < 0:  # killed by a signal the program did not handle (^C): die of it, as it would
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def _run_script(argv: list[str]) -> NoReturn:
    """Run `argv` (this interpreter, a script, its arguments) in this process, as `python
    script.py args` would: the script's folder first on sys.path, it is `__main__`, an uncaught
    exception is printed and exits 1, `sys.exit(n)` exits n."""
    script = argv[1]
    sys.argv = list(argv[1:])
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    try:
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    except BaseException as err:  # noqa: BLE001 - the interpreter's own handling, below
        sys.excepthook(type(err), err, err.__traceback__)
        code = -signal.SIGINT if isinstance(err, KeyboardInterrupt) else 1
    _leave(code)


if __name__ == "__main__":
    try:
        _code = main()
    except Become as become:  # a forked child: from here on it is the program
        _argv = become.argv
    else:
        # the init ends without tearing down what it preloaded (0.7 s of CPU for torch)
        _flush_std()
        os._exit(_code)
    _run_script(_argv)
