"""The Ray executor keeps the local pool's promises, on a real local Ray instance.

One instance for the module (starting Ray takes seconds); tests that need a fresh executor
(cancel_all ends one) join it, as a notebook that already called `ray.init` would.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

import recursor
from recursor.errors import BudgetError, RecursorError
from recursor.executor.job import Job
from recursor.executor.ray_pool import RayExecutor, connect, import_ray, run_on_worker
from recursor.loop.config import RunConfig
from recursor.proposer import Proposal
from recursor.store import Idea, NodeStatus
from recursor.task.spec import LimitsSpec

HEADER = """
import json, os, sys, time, subprocess
config = json.load(open(os.environ["RECURSOR_CONFIG"]))
def emit(**record):
    with open(config["metrics_file"], "a") as f:
        f.write(json.dumps(record) + "\\n")
"""


@pytest.fixture(scope="module")
def executor():
    try:
        import_ray()
    except RecursorError as err:
        pytest.skip(f"Ray is not installed here: {err}")
    try:
        pool = RayExecutor(workers=2)  # a local instance of 2 CPUs: 2 one-thread jobs at a time
    except RecursorError as err:
        pytest.skip(f"Ray cannot start here: {err}")
    yield pool
    pool.shutdown()


def make_job(tmp_path: Path, body: str, key: str, timeout: float = 30.0,
             config: dict | None = None) -> Job:
    task_dir = tmp_path / "task"
    task_dir.mkdir(exist_ok=True)
    (task_dir / f"harness{key}.py").write_text(HEADER + textwrap.dedent(body))
    return Job(key=key, command=("{python}", f"harness{key}.py"), task_dir=task_dir,
               job_dir=tmp_path / f"job{key}", config=config or {"seed": 7},
               limits=LimitsSpec(timeout_seconds=timeout, memory_mb=2048, threads=1),
               evaluation="m")


def wait_for(path: Path, seconds: float = 30.0) -> Path:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path


def dead(pid: int, grace: float = 5.0) -> bool:
    """Whether `pid` is gone (or a zombie) within `grace` seconds."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status")
        try:
            if "State:\tZ" in status.read_text():
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


SLEEPER = """
child = subprocess.Popen(["sleep", "1000"])
open(os.path.join(config["scratch"], "..", "child.pid"), "w").write(str(child.pid))
time.sleep(1000)
"""


@pytest.mark.slow
def test_a_result_and_its_curve_come_back(executor, tmp_path):
    job = make_job(tmp_path, """
        emit(type="curve", step=1, train_loss=2.5)
        emit(type="result", metrics={"m": 1.25})
    """, key="ok")
    result = executor.submit(job).result(timeout=60)
    assert result.ok and result.value == 1.25 and result.reason is None
    assert result.curve == [{"step": 1, "train_loss": 2.5}]
    assert (job.job_dir / "harness.log").exists()  # the evidence is where the loop reads it


def test_a_failing_harness_fails_with_its_reason(executor, tmp_path):
    job = make_job(tmp_path, 'raise ValueError("shapes (3, 4) and (5,) do not match")', key="bad")
    result = executor.submit(job).result(timeout=60)
    assert not result.ok and result.value is None
    assert "exited with code 1" in result.reason
    assert "ValueError: shapes (3, 4) and (5,) do not match" in result.reason


def test_an_error_inside_ray_is_a_failed_result_not_an_exception(executor, tmp_path):
    # the worker cannot write this config: run_job raises inside the Ray task
    job = make_job(tmp_path, "pass", key="raises", config={"seed": 7, "odd": {1, 2}})
    result = executor.submit(job).result(timeout=60)
    assert not result.ok
    assert result.reason.startswith("Ray could not run the experiment: TypeError")


def test_cancel_kills_the_whole_group_of_a_running_job(executor, tmp_path):
    job = make_job(tmp_path, SLEEPER, key="running")
    future = executor.submit(job)
    child = int(wait_for(job.job_dir / "child.pid").read_text())
    t0 = time.monotonic()
    executor.cancel(job.key)
    result = future.result(timeout=30)
    assert not result.ok and result.reason.startswith("cancelled")
    assert time.monotonic() - t0 < 10
    assert dead(child)


def test_a_job_cancelled_before_it_starts_never_starts(executor, tmp_path):
    blockers = [make_job(tmp_path, SLEEPER, key=f"block{i}") for i in range(2)]
    futures = [executor.submit(j) for j in blockers]
    for j in blockers:  # both CPUs of the instance are taken
        wait_for(j.job_dir / "child.pid")
    queued = make_job(tmp_path, 'emit(type="result", metrics={"m": 1.0})', key="queued")
    future = executor.submit(queued)
    executor.cancel(queued.key)
    result = future.result(timeout=10)  # at once: it had not started
    assert not result.ok and result.reason.startswith("cancelled")
    for j in blockers:
        executor.cancel(j.key)
    assert all(f.result(timeout=30).reason.startswith("cancelled") for f in futures)
    time.sleep(1.0)  # room for the queued task to (wrongly) start once the CPUs are free
    assert not (queued.job_dir / "pid").exists() and not queued.metrics_file.exists()


def test_the_time_limit_is_enforced(executor, tmp_path):
    job = make_job(tmp_path, SLEEPER, key="slow", timeout=2)
    result = executor.submit(job).result(timeout=60)
    assert not result.ok and "time limit of 2 s" in result.reason
    assert dead(int((job.job_dir / "child.pid").read_text()))


def test_cancel_all_stops_everything(executor, tmp_path):
    pool = RayExecutor(workers=2)  # joins the module's instance: cancel_all ends an executor
    jobs = [make_job(tmp_path, SLEEPER, key=f"all{i}") for i in range(3)]
    futures = [pool.submit(j) for j in jobs]
    children = [int(wait_for(j.job_dir / "child.pid").read_text()) for j in jobs[:2]]
    t0 = time.monotonic()
    pool.cancel_all()
    results = [f.result(timeout=30) for f in futures]
    pool.shutdown()
    assert time.monotonic() - t0 < 15
    assert all(not r.ok and r.reason.startswith("cancelled") for r in results)
    assert all(dead(pid) for pid in children)
    assert not (jobs[2].job_dir / "pid").exists()  # the third was queued: it never started


def test_a_worker_that_cannot_see_the_job_folder_fails_the_job(tmp_path):
    # what a worker on a node without the shared file system finds
    job = make_job(tmp_path, "pass", key="elsewhere")
    result = run_on_worker(job, coordinator=None)
    assert not result.ok
    assert "must be on a file system every Ray node shares" in result.reason


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    with pytest.raises(RecursorError, match=r"pip install 'recursor\[ray\]'"):
        RayExecutor(workers=1)


def test_a_ray_that_cannot_start_gives_its_reason():
    class NoCluster:
        def init(self, **options):
            raise ConnectionError("Could not find any running Ray instance.")

    with pytest.raises(RecursorError, match="could not join the Ray cluster at head:6379: "
                       "ConnectionError: Could not find any running Ray instance."):
        connect(NoCluster(), "head:6379", cpus=2)


def test_the_run_config_checks_the_executor():
    with pytest.raises(BudgetError) as err:
        RunConfig(executor="dask", ray_address="head:6379", workers=0)
    text = str(err.value)
    assert "unknown executor 'dask'; choose local or ray" in text
    assert "ray_address needs the ray executor" in text and "workers must be" in text
    config = RunConfig(executor="ray", ray_address="head:6379")
    assert RunConfig.from_json(config.to_json()) == config


class Crashes:
    """One candidate whose program crashes at start: a failed experiment, quickly."""

    name = "scripted"

    def __init__(self) -> None:
        self.left = 1

    def has_ideas_for(self, ctx) -> bool:
        return self.left > 0

    def propose(self, ctx):
        if not self.left:
            return None
        self.left -= 1
        init = "    model = GPT()\n    optimizer = configure_optimizer(model)"
        patch = (f"train.py\n<<<<<<< SEARCH\n{init}\n=======\n"
                 f"    raise RuntimeError('bad init')\n{init}\n>>>>>>> REPLACE\n")
        return Proposal(Idea(title="crashes", proposer=self.name), patch)


@pytest.mark.slow
def test_a_real_run_on_ray_decides_its_nodes(executor, tmp_path, small):
    overrides = {**small, "budget.train_tokens": 4096, "settings.eval_windows": 16}
    run = recursor.run("tiny-lm", run_dir=tmp_path / "run", experiments=1, workers=2,
                       overrides=overrides, heldout=False, proposer=Crashes(), executor="ray")
    assert run.config.executor == "ray"
    baseline, candidate = run.nodes()
    assert baseline.status is NodeStatus.ACCEPTED and len(baseline.values("val_bpb")) == 2
    assert candidate.status is NodeStatus.FAILED
    assert "RuntimeError: bad init" in candidate.reason
    for ev in baseline.evaluations:  # the loop found each job's evidence in the run folder
        assert (run.path(ev.job_dir) / "program.log").exists() and run.curve(ev.id)
    assert os.path.isdir(run.path(candidate.evaluations[0].job_dir))
