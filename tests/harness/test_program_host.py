"""One sandbox, several runs of the program (`ProgramHost`, `sandbox_init --serve`).

tiny-lm's harness trains and then predicts in the same sandbox, whose init imports torch once
and forks each run from itself. Each run must still be what a fresh process would be: its own
report, nothing of the run before, no way to reach the init's report or its next command.
"""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from recursor.harness import HarnessError, ProgramHost, child_env

# the sandbox tests' helpers: which kinds run here, a report forger, a process finder
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "executor"))
from test_sandbox import FORGE, alive_with, get  # noqa: E402

KINDS = ("bwrap", "unshare", "none")


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    get(request.param)  # skips where this kind does not work
    return request.param


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


def host(kind: str, scratch: Path, log, preload=("decimal",), cpu_seconds: int = 30):
    box = get(kind)
    config = box.harness_config(writable=[str(scratch)], readonly=[], memory_mb=0,
                                cpu_seconds=cpu_seconds)
    return ProgramHost(config, str(scratch), child_env(str(scratch), 1), log, preload)


def script(scratch: Path, name: str, code: str) -> list[str]:
    path = scratch / name
    path.write_text(textwrap.dedent(code))
    return [sys.executable, str(path)]


def test_each_run_is_a_fresh_process_with_the_preload_already_imported(kind, scratch, tmp_path):
    with open(tmp_path / "log", "wb") as log, host(kind, scratch, log, ("torch",)) as h:
        first = h.start([*script(scratch, "a.py", """
            import os, sys, torch
            print("A", __name__, sys.argv[1:], sys.path[0] == os.path.dirname(__file__),
                  os.getpid(), flush=True)
            torch.zeros = None  # a run that breaks what it was given breaks it for itself only
            open("state", "w").write("set")
        """), "--flag", "1"], 60, "first").wait()
        second = h.start(script(scratch, "b.py", """
            import os, sys
            warm = "torch" in sys.modules  # before this script imported anything
            import torch
            print("B", warm, torch.zeros(2).tolist(), os.getpid(), flush=True)
        """), 60, "second").wait()
    out = (tmp_path / "log").read_text()
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line[:2] in ("A ", "B ")}
    assert lines["A"][1:5] == ["__main__", "['--flag',", "'1']", "True"], out
    assert lines["B"][1:4] == ["True", "[0.0,", "0.0]"], out
    assert lines["A"][-1] != lines["B"][-1]  # two processes
    assert first["exit"] == second["exit"] == 0
    assert first["cpu"] > 0 and second["cpu"] > 0 and first["strays"] == second["strays"] == 0


def test_a_pipe_given_to_a_run_reaches_it_and_ends_with_it(kind, scratch, tmp_path):
    """The training curve comes over a pipe; the harness's reader must see its end when training
    ends, although the sandbox goes on for predict."""
    read_fd, write_fd = os.pipe()
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(os.fdopen(read_fd).read().splitlines()))
    reader.start()
    with open(tmp_path / "log", "wb") as log, host(kind, scratch, log) as h:
        try:
            run = h.start([*script(scratch, "w.py", """
                import os, sys
                os.write(int(sys.argv[1]), b"step 1\\n")
            """), str(write_fd)], 60, "training", (write_fd,))
        finally:
            os.close(write_fd)
        assert run.wait()["exit"] == 0
        reader.join(timeout=10)
        assert not reader.is_alive(), "the pipe stayed open after the run ended"
        assert lines == ["step 1"]
        assert h.start(script(scratch, "ok.py", "print('next')"), 60, "next").wait()["exit"] == 0


def test_a_run_can_neither_forge_its_report_nor_reach_the_next_command(kind, scratch, tmp_path):
    code = FORGE + textwrap.dedent("""
        for fd in range(3, 256):
            try:  # the init's socket: a command of its own, or the harness's next one
                s = socket.socket(fileno=os.dup(fd))
                s.send(b'{"argv": ["/bin/true"]}')
                s.settimeout(0.1)
                print("stole", s.recv(1000), flush=True)
            except OSError:
                pass
        sys.exit(5)
    """)
    with open(tmp_path / "log", "wb") as log, host(kind, scratch, log) as h:
        with pytest.raises(HarnessError, match="forger failed with exit code 5"):
            h.start(script(scratch, "forge.py", code), 60, "forger").wait()
        report = h.start(script(scratch, "ok.py", "print('honest')"), 60, "honest").wait()
    assert report["exit"] == 0 and "forged" not in report
    assert "stole" not in (tmp_path / "log").read_text()


def test_a_crash_a_cap_and_leftovers_are_each_reported_for_their_run(kind, scratch, tmp_path):
    token = f"leftover-{os.getpid()}-{kind}"
    with open(tmp_path / "log", "wb") as log, host(kind, scratch, log, cpu_seconds=2) as h:
        with pytest.raises(HarnessError, match="crash failed with exit code 1"):
            h.start(script(scratch, "crash.py", "raise RuntimeError('bad init')"), 60,
                    "crash").wait()
        with pytest.raises(HarnessError, match=r"busy failed with signal 24 \(SIGXCPU\) after"):
            h.start(script(scratch, "busy.py", "while True: pass"), 60, "busy").wait()
        left = h.start(script(scratch, "left.py", f"""
            import subprocess, sys
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", {token!r}])
        """), 60, "leaver").wait()
        assert left["strays"] == 1 and not alive_with(token)
    assert "RuntimeError: bad init" in (tmp_path / "log").read_text()


def test_a_run_past_its_wall_clock_cap_is_killed_with_its_sandbox(kind, scratch, tmp_path):
    token = f"sleeper-{os.getpid()}-{kind}"
    with open(tmp_path / "log", "wb") as log, host(kind, scratch, log) as h:
        t0 = time.monotonic()
        with pytest.raises(HarnessError, match="exceeded its wall-clock cap of 1 s"):
            h.start([*script(scratch, "sleep.py", "import time; time.sleep(60)"), token], 1,
                    "sleeper").wait()
        assert time.monotonic() - t0 < 10
    deadline = time.monotonic() + 5
    while alive_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive_with(token)


def test_a_run_after_the_init_died_says_so(scratch, tmp_path):
    with open(tmp_path / "log", "wb") as log, host("none", scratch, log) as h:
        h.proc.kill()
        h.proc.wait()
        with pytest.raises(HarnessError, match="could not start: the sandbox's init ended"):
            h.start(script(scratch, "ok.py", "print(1)"), 60, "late").wait()


def test_sigterm_to_a_serving_init_stops_the_run_and_the_init(scratch, tmp_path):
    """recursor stops an experiment by signalling the harness's group, the init included."""
    pidfile = scratch / "pid"
    with open(tmp_path / "log", "wb") as log, host("none", scratch, log) as h:
        run = h.start(script(scratch, "sleep.py", f"""
            import os, time
            open({str(pidfile)!r}, "w").write(str(os.getpid()))
            time.sleep(60)
        """), 60, "sleeper")
        deadline = time.monotonic() + 10
        while not (pidfile.exists() and pidfile.read_text()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        h.proc.terminate()
        with pytest.raises(HarnessError, match=r"sleeper failed with signal 15 \(SIGTERM\)"):
            run.wait()
        assert h.proc.wait(timeout=10) == 128 + 15
    with open(tmp_path / "log2", "wb") as log, host("none", scratch, log) as h:
        time.sleep(0.5)  # idle, waiting for a command
        h.proc.terminate()
        assert h.proc.wait(timeout=10) == 128 + 15


def test_a_run_ends_as_the_interpreter_would_end_it(kind, scratch, tmp_path):
    """A forked run skips the module teardown (0.7 s with torch) but keeps what a program can
    count on: its threads joined, its atexit functions run, its open files flushed, sys.exit's
    code and message, an uncaught ^C's signal."""
    ending = """
        import atexit, sys, threading, time
        log = open("unclosed.txt", "w")  # never closed: the interpreter's teardown would flush it
        log.write("kept")
        atexit.register(lambda: open("atexit.txt", "w").write("ran"))
        def late():
            time.sleep(0.3)
            open("thread.txt", "w").write("joined")
        threading.Thread(target=late).start()
    """
    with open(tmp_path / "log", "wb") as log, host(kind, scratch, log, ("torch",)) as h:
        assert h.start(script(scratch, "end.py", ending), 60, "ending").wait()["exit"] == 0
        with pytest.raises(HarnessError, match="failed with exit code 1"):
            h.start(script(scratch, "msg.py", "import sys; sys.exit('a reason')"), 60,
                    "message").wait()
        with pytest.raises(HarnessError, match="failed with exit code 3"):
            h.start(script(scratch, "three.py", "import sys; sys.exit(3)"), 60, "three").wait()
        with pytest.raises(HarnessError, match=r"failed with signal 2 \(SIGINT\)"):
            h.start(script(scratch, "int.py", "raise KeyboardInterrupt"), 60, "interrupted").wait()
    for name, text in (("unclosed.txt", "kept"), ("atexit.txt", "ran"), ("thread.txt", "joined")):
        assert (scratch / name).read_text() == text
    out = (tmp_path / "log").read_text()
    assert "a reason" in out and "KeyboardInterrupt" in out and "Warning" not in out


def test_under_bwrap_nothing_a_run_leaves_in_tmp_shm_or_ipc_reaches_the_next(scratch, tmp_path):
    """The runs of one sandbox share its private /tmp, /dev/shm and IPC namespace; the init
    empties them after each run, so that a run cannot leave the next one state there. The
    scratch folder is the harness's to manage (and here, under /tmp, must survive intact)."""
    get("bwrap")
    leave = """
        import ctypes, os
        for folder in ("/tmp", "/dev/shm"):
            os.makedirs(os.path.join(folder, "cache", "deep"), exist_ok=True)
            open(os.path.join(folder, "cache", "deep", "seen"), "w").write("windows")
            os.chmod(os.path.join(folder, "cache"), 0)
        libc = ctypes.CDLL(None)
        print("SHM", libc.shmget(0x5EED, 4096, 0o1600) >= 0, flush=True)  # IPC_CREAT | 0600
        open("kept", "w").write("the harness's to remove")
    """
    look = """
        import ctypes, os
        libc = ctypes.CDLL(None)
        print("FOUND", "cache" in os.listdir("/tmp"), "cache" in os.listdir("/dev/shm"),
              libc.shmget(0x5EED, 0, 0) >= 0, os.path.exists("kept"), flush=True)
    """
    with open(tmp_path / "log", "wb") as log, host("bwrap", scratch, log) as h:
        first = h.start(script(scratch, "a.py", leave), 60, "first").wait()
        h.start(script(scratch, "b.py", look), 60, "second").wait()
    out = (tmp_path / "log").read_text()
    assert "SHM True" in out, out
    found = next(line for line in out.splitlines() if line.startswith("FOUND"))
    assert found == "FOUND False False False True", out
    assert first["cleared"] >= 3  # two folders and a segment


def test_no_program_runs_without_a_sandbox(scratch, tmp_path):
    from recursor.harness import NoSandbox, run_child

    with open(tmp_path / "log", "wb") as log:
        with pytest.raises(NoSandbox, match="never runs one bare"):
            ProgramHost(None, str(scratch), child_env(str(scratch), 1), log)
        with pytest.raises(NoSandbox):
            run_child([sys.executable, "-c", "pass"], str(scratch), {}, 10, "a run", log, {})


def test_a_run_cannot_read_back_what_an_earlier_run_wrote_to_its_output(kind, scratch, tmp_path):
    """Each run's stdout is a pipe of its own that the host copies into the log: reopening
    /proc/self/fd/1 for reading gives nothing of the earlier run (it would be a cache carried
    from one run to the next)."""
    reader = """
        import os
        try:
            fd = os.open("/proc/self/fd/1", os.O_RDONLY | os.O_NONBLOCK)
            seen = os.read(fd, 1 << 20)
        except OSError as err:
            seen = repr(err).encode()
        print("READ-BACK", b"windows-of-call-1" in seen, flush=True)
    """
    with open(tmp_path / "log", "wb") as log, host(kind, scratch, log) as h:
        h.start(script(scratch, "a.py", 'print("windows-of-call-1", flush=True)'), 60,
                "first").wait()
        h.start(script(scratch, "b.py", reader), 60, "second").wait()
    out = (tmp_path / "log").read_text()
    assert "windows-of-call-1" in out and "READ-BACK False" in out, out
