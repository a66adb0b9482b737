"""A run killed mid-experiment (Ctrl-C, or kill -9) and resumed loses nothing and repeats nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import recursor
from recursor.store import EvalStatus, RunStore

pytestmark = pytest.mark.slow


def start(args: list[str]) -> subprocess.Popen:
    # as from a terminal: a shell without job control starts background jobs with SIGINT
    # ignored, and Python then never turns SIGINT into KeyboardInterrupt (seen when the suite
    # ran under `nohup ... &`): Ctrl-C must be what it is for a user at a terminal
    return subprocess.Popen([sys.executable, "-m", "recursor.cli.app", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_until(run_dir: Path, predicate, timeout=240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / "run.db").exists():
            store = RunStore.open(run_dir, readonly=True)
            try:
                if predicate(store):
                    return
            finally:
                store.close()
        time.sleep(0.3)
    raise AssertionError("the run never reached the expected state")


def finished_evaluations(store: RunStore) -> dict[int, tuple]:
    return {e.id: (e.node_id, e.seed, e.evaluation, e.status, e.value) for n in store.nodes()
            for e in n.evaluations if e.status in (EvalStatus.OK, EvalStatus.FAILED)}


def candidates_running(store: RunStore) -> bool:
    nodes = store.nodes()
    running = [e for n in nodes if not n.is_baseline for e in n.evaluations
               if e.status is EvalStatus.RUNNING]
    done = [e for n in nodes if not n.is_baseline for e in n.evaluations
            if e.status is EvalStatus.OK]
    return bool(running) and bool(done)


def experiment_processes(run_dir: Path) -> list[int]:
    """Processes of this run's experiments still alive (harness or training)."""
    found = []
    root = str(run_dir.resolve()).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            env = Path(f"/proc/{entry}/environ").read_bytes()
            cwd = os.readlink(f"/proc/{entry}/cwd").encode()
        except OSError:
            continue
        if b"recursor.cli.app" in cmd:
            continue
        if root in env or cwd.startswith(root):
            found.append(int(entry))
    return found


def test_interrupt_and_kill_then_resume_finish_the_budget_exactly(tmp_path, small):
    run_dir = tmp_path / "run"
    sets = [f"--set={k}={v}" for k, v in small.items()]
    args = ["--experiments", "3", "--workers", "2", *sets]

    # 1. Ctrl-C while candidates run
    proc = start(["run", "tiny-lm", "--run-dir", str(run_dir), *args])
    wait_until(run_dir, candidates_running)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "recursor resume" in out
    assert recursor.open_run(run_dir).status == "interrupted"
    assert not experiment_processes(run_dir)
    before = finished_evaluations(RunStore.open(run_dir, readonly=True))

    # 2. resume, then kill -9 while it runs
    proc = start(["resume", str(run_dir)])
    wait_until(run_dir, lambda s: len(finished_evaluations(s)) > len(before)
               and any(e.status is EvalStatus.RUNNING for n in s.nodes() for e in n.evaluations))
    proc.kill()
    proc.wait(timeout=30)
    # experiments die with the process driving them: at once, though the kernel tears a killed
    # process down on its own time (a few seconds is slow; an orphan would train on far longer)
    deadline = time.monotonic() + 3.0
    while experiment_processes(run_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not experiment_processes(run_dir)
    assert recursor.open_run(run_dir).status == "interrupted"
    middle = finished_evaluations(RunStore.open(run_dir, readonly=True))
    assert before.items() <= middle.items()

    # 3. resume to the end
    proc = start(["resume", str(run_dir)])
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out

    store = RunStore.open(run_dir, readonly=True)
    final = finished_evaluations(store)
    assert middle.items() <= final.items()  # nothing finished was lost or changed
    runs = Counter((node, seed, name) for node, seed, name, _, _ in final.values())
    assert max(runs.values()) == 1  # nothing ran twice
    report = recursor.open_run(run_dir).report()
    assert report["status"] == "finished"
    assert report["counts"]["experiments"] == 3 and report["counts"]["running"] == 0
    lost = [e for n in store.nodes() for e in n.evaluations if e.status is EvalStatus.LOST]
    assert lost  # the kills did interrupt experiments, and those ran again
    for e in lost:
        assert (e.node_id, e.seed, e.evaluation) in runs or store.node(e.node_id).status.final
    sessions = store.sessions()
    assert [s["end_reason"] for s in sessions][0] == "interrupted" and len(sessions) == 3
