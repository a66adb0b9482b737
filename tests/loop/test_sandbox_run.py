"""Candidates that try to escape, in a real run: each ends as a recorded failed or rejected node
with the reason, nothing escapes, and the run goes on.

The static auditor would reject most of these patches before they ran; it is switched off here
so that the sandbox itself is what is tested (a cheat the static checks miss meets the same
walls).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import SMALL

import recursor
from recursor.audit import admission
from recursor.executor.sandbox import detect
from recursor.loop.jobs import resolve_data
from recursor.store import NodeStatus
from recursor.task import load_task

# the sleeper's argument is unique to this session: these machines are shared, and another
# checkout's test suite may have a `sleep 300` of its own alive at the same moment
SLEEP = f"300.{uuid.uuid4().int % 10**9:09d}"

pytestmark = pytest.mark.slow

ANCHOR = "    model = GPT()\n    optimizer = configure_optimizer(model)\n"


def patch(code: str) -> str:
    body = "".join(f"    {line}\n" for line in code.strip().splitlines())
    return (f"train.py\n<<<<<<< SEARCH\n{ANCHOR}=======\n{body}{ANCHOR}"
            ">>>>>>> REPLACE\n")


class Listener:
    """A TCP server on this machine's loopback that counts who reaches it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.fixture(scope="module")
def escapes(tmp_path_factory):
    if detect().kind != "bwrap":
        pytest.skip("needs bubblewrap (sh scripts/install-sandbox.sh)")
    root = tmp_path_factory.mktemp("escapes")
    listener = Listener()
    outside = root / "outside.txt"
    data = resolve_data(load_task("tiny-lm"))["tinyshakespeare"]
    attempts = {
        "network": f"import socket\nsocket.create_connection(('127.0.0.1', {listener.port}), "
                   "timeout=3).sendall(b'hello')",
        "environment": "if os.environ.get('OPENAI_API_KEY'):\n"
                       "    raise SystemExit('found ' + os.environ['OPENAI_API_KEY'])",
        "write outside": f"open({str(outside)!r}, 'w').write('escaped')",
        "read data": f"print(len(open({str(data)!r}, 'rb').read()))",
        "memory": "hog = []\nwhile True:\n    hog.append(bytearray(1 << 26))",
        "fork sleeper": "import subprocess\n"
                        f"p = subprocess.Popen(['sleep', '{SLEEP}'], start_new_session=True)\n"
                        "print('SLEEPER', p.pid, flush=True)",
    }
    os.environ["OPENAI_API_KEY"] = "sk-test-not-a-real-key-0451"
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(admission, "review_patch", lambda *args, **kwargs: [])
            texts = [patch(code) for code in attempts.values()]
            run_dir = root / "run"
            recursor.try_patches("tiny-lm", texts, run_dir=run_dir, workers=2,
                                 overrides=SMALL, heldout=False)
    finally:
        del os.environ["OPENAI_API_KEY"]
        listener.sock.close()
    run = recursor.open_run(run_dir)
    nodes = {name: n for name, n in zip(attempts, run.nodes()[1:], strict=True)}
    return {"run": run, "nodes": nodes, "listener": listener, "outside": outside,
        "root": root}


def logs(run, node) -> str:
    return "".join((run.path(e.job_dir) / name).read_text(errors="replace")
                   for e in node.evaluations for name in ("program.log", "harness.log")
                   if (run.path(e.job_dir) / name).exists())


def test_the_run_goes_on_and_records_every_attempt(escapes):
    report = escapes["run"].report()
    assert report["status"] == "finished" and report["counts"]["experiments"] == 6
    for name, node in escapes["nodes"].items():
        assert node.status in (NodeStatus.FAILED, NodeStatus.REJECTED), name
        assert node.reason, name


def test_no_network(escapes):
    node = escapes["nodes"]["network"]
    assert node.status is NodeStatus.FAILED
    assert "training failed" in node.reason and ("Network" in node.reason
                                                  or "Connection" in node.reason)
    assert escapes["listener"].connections == 0


def test_no_secrets_in_the_environment(escapes):
    node = escapes["nodes"]["environment"]
    assert "found" not in node.reason  # the key was not there to find
    for path in escapes["run"].run_dir.rglob("*"):
        if path.is_file():
            assert b"sk-test-not-a-real-key" not in path.read_bytes(), path


def test_no_writes_outside_the_workspace(escapes):
    node = escapes["nodes"]["write outside"]
    assert node.status is NodeStatus.FAILED and "Error" in node.reason
    assert not escapes["outside"].exists()


def test_the_data_cannot_be_read(escapes):
    node = escapes["nodes"]["read data"]
    assert node.status is NodeStatus.FAILED
    assert "FileNotFoundError" in node.reason or "PermissionError" in node.reason


def test_unbounded_allocation_is_stopped_by_the_memory_cap(escapes):
    node = escapes["nodes"]["memory"]
    assert node.status is NodeStatus.FAILED
    assert "MemoryError" in node.reason or "signal" in node.reason


def sleepers() -> int:
    """Live processes running this session's sleeper (SIGKILL takes a moment to land: wait)."""
    mine = f"sleep\x00{SLEEP}\x00".encode()
    deadline = time.monotonic() + 5
    while True:
        found = 0
        for p in os.listdir("/proc"):
            try:
                found += p.isdigit() and Path(f"/proc/{p}/cmdline").read_bytes() == mine
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_process_left_behind_is_killed_and_rejects_the_candidate(escapes):
    run, node = escapes["run"], escapes["nodes"]["fork sleeper"]
    assert node.status is NodeStatus.REJECTED
    assert node.reason.startswith("auditor: budget.processes")
    assert "SLEEPER" in logs(run, node)  # it did start its sleeper...
    assert sleepers() == 0  # ...and nothing of it is left on this machine
