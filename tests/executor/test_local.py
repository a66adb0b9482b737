"""The executor's promises, each checked with a real process that breaks it."""

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from recursor.executor.job import Job
from recursor.executor.local import LocalExecutor, run_job
from recursor.task.spec import LimitsSpec


def make_job(tmp_path: Path, body: str, timeout=30.0, memory_mb=2048, key="1") -> Job:
    task_dir = tmp_path / "task"
    task_dir.mkdir(exist_ok=True)
    script = textwrap.dedent("""
        import json, os, sys, time, subprocess
        config = json.load(open(os.environ["RECURSOR_CONFIG"]))
        def emit(**record):
            with open(config["metrics_file"], "a") as f:
                f.write(json.dumps(record) + "\\n")
    """) + textwrap.dedent(body)
    (task_dir / f"harness{key}.py").write_text(script)
    return Job(
        key=key,
        command=("{python}", f"harness{key}.py"),
        task_dir=task_dir,
        job_dir=tmp_path / f"job{key}",
        config={"seed": 7},
        limits=LimitsSpec(timeout_seconds=timeout, memory_mb=memory_mb, threads=1),
        evaluation="m",
    )


def alive(pid: int, grace: float = 2.0) -> bool:
    """Whether `pid` still runs after `grace` seconds (SIGKILL is delivered asynchronously)."""
    deadline = time.monotonic() + grace
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _running(pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}").exists() else ""
    return "State:\tZ" not in status


def test_a_result_is_read_from_the_metrics_file_not_stdout(tmp_path):
    job = make_job(tmp_path, """
        print('{"type": "result", "metrics": {"m": 999.0}}')   # stdout is never trusted
        emit(type="curve", step=1, train_loss=2.5)
        emit(type="result", metrics={"m": 1.25})
    """)
    result = run_job(job)
    assert result.ok and result.value == 1.25
    assert result.curve == [{"step": 1, "train_loss": 2.5}]
    assert not job.scratch.exists()  # scratch is cleaned, logs stay
    assert job.harness_log.exists()


def test_the_experiment_gets_a_clean_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "also-secret")
    job = make_job(tmp_path, """
        emit(type="result", metrics={"m": 1.0}, env=dict(os.environ))
    """)
    result = run_job(job)
    env = result.metrics["env"]
    assert not [k for k in env if "KEY" in k or "SECRET" in k or "TOKEN" in k]
    assert env["HOME"] == str(job.scratch) and env["RECURSOR_SEED"] == "7"
    assert "sk-test-secret" not in json.dumps(env)


def test_timeout_kills_the_whole_group_grandchildren_included(tmp_path):
    job = make_job(tmp_path, """
        child = subprocess.Popen([sys.executable, "-c",
            "import subprocess, sys, time;"
            "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1000)']);"
            "open('../grandchild.pid', 'w').write(str(g.pid)); time.sleep(1000)"],
            cwd=config["scratch"])
        open(os.path.join(config["scratch"], "..", "child.pid"), "w").write(str(child.pid))
        time.sleep(1000)
    """, timeout=3)
    t0 = time.monotonic()
    result = run_job(job)
    assert time.monotonic() - t0 < 20
    assert not result.ok and "time limit of 3 s" in result.reason
    child = int((job.job_dir / "child.pid").read_text())
    grandchild = int((job.job_dir / "grandchild.pid").read_text())
    assert not alive(child) and not alive(grandchild)


def test_a_runaway_allocation_fails_inside_the_experiment(tmp_path):
    job = make_job(tmp_path, """
        hog = bytearray(3 * 1024**3)
        emit(type="result", metrics={"m": 1.0})
    """, memory_mb=600)
    result = run_job(job)
    assert not result.ok and "MemoryError" in result.reason


def test_a_crash_is_reported_with_its_exception(tmp_path):
    job = make_job(tmp_path, """
        raise ValueError("shapes (3, 4) and (5,) do not match")
    """)
    result = run_job(job)
    assert not result.ok
    assert "exited with code 1" in result.reason
    assert "ValueError: shapes (3, 4) and (5,) do not match" in result.reason


def test_a_harness_error_line_and_a_missing_metric(tmp_path):
    result = run_job(make_job(tmp_path, 'emit(type="error", reason="training diverged")'))
    assert not result.ok and result.reason == "training diverged"
    result = run_job(make_job(tmp_path, 'emit(type="result", metrics={"other": 1.0})', key="2"))
    assert not result.ok and "no numeric 'm'" in result.reason


def test_cancel_all_stops_running_experiments_at_once(tmp_path):
    executor = LocalExecutor(workers=2)
    jobs = [make_job(tmp_path, "time.sleep(1000)", key=str(i)) for i in range(3)]
    futures = [executor.submit(j) for j in jobs]
    time.sleep(2.0)
    t0 = time.monotonic()
    executor.cancel_all()
    results = [f.result(timeout=30) for f in futures]
    executor.shutdown()
    assert time.monotonic() - t0 < 15
    assert all(not r.ok and r.reason.startswith("cancelled") for r in results)


@pytest.mark.parametrize("workers", [0])
def test_workers_must_be_positive(workers):
    with pytest.raises(ValueError):
        LocalExecutor(workers)


def test_a_line_the_harness_did_not_write_in_its_signed_metrics_fails_the_experiment(tmp_path):
    # a harness that signs its records (recursor.harness.Metrics), and a program that reached the
    # metrics file (possible under a weaker sandbox) and appended a better result
    job = make_job(tmp_path, """
        from recursor.harness import Metrics
        signed = Metrics(config["metrics_file"])
        signed.write(type="curve", progress=0.5, train_loss=2.0)
        emit(type="result", metrics={"m": 0.001})
        signed.write(type="result", metrics={"m": 3.5})
    """)
    result = run_job(job)
    assert not result.ok and "1 line(s) its harness did not write" in result.reason
    honest = run_job(make_job(tmp_path, """
        from recursor.harness import Metrics
        Metrics(config["metrics_file"]).write(type="result", metrics={"m": 3.5})
    """, key="2"))
    assert honest.ok and honest.value == 3.5 and "token" not in honest.metrics


def test_a_job_run_again_in_its_folder_is_judged_on_its_own_records(tmp_path):
    # a measurement repeated in the same folder: the last attempt's signed records carry another
    # token, and must neither read as forged nor stand in for this attempt's result
    body = """
        from recursor.harness import Metrics
        Metrics(config["metrics_file"]).write(type="result", metrics={"m": float(config["seed"])})
    """
    job = make_job(tmp_path, body)
    first = run_job(job)
    again = make_job(tmp_path, body.replace('float(config["seed"])', "2.5"))
    assert again.job_dir == job.job_dir
    second = run_job(again)
    assert first.ok and first.value == 7.0
    assert second.ok and second.value == 2.5, second.reason
