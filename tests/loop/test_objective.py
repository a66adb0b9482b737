"""`--objective`: which of the task's metrics the search optimises and the judge tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SMALL
from typer.testing import CliRunner

import recursor
from recursor.cli.app import app
from recursor.errors import TaskError
from recursor.executor.sandbox import Sandbox
from recursor.loop.jobs import make_job
from recursor.settings import RunConfig
from recursor.store import NodeStatus
from recursor.task import load_task
from recursor.task.objectives import for_objective


def test_the_setting_is_stored_an_option_and_a_keyword():
    assert RunConfig.from_json(RunConfig(objective="train_seconds").to_json()).objective == \
        "train_seconds"
    assert RunConfig.from_json({"experiments": 3}).objective is None  # a run made before it
    out = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "--objective" in out
    assert "objective: str | None = None" in recursor.run.__doc__


def test_an_objective_the_task_lacks_fails_before_the_run_is_made(tmp_path):
    with pytest.raises(TaskError, match="objective 'latency' is not one of the task's metrics"):
        recursor.run("tiny-lm", objective="latency", run_dir=tmp_path / "run", overrides=SMALL)
    assert not (tmp_path / "run").exists()


def test_the_harness_is_told_its_own_evaluation_and_the_objective_is_read_back(tmp_path):
    task = for_objective(load_task("tiny-lm", SMALL), "peak_memory_mb")
    folder = tmp_path / "program"
    folder.mkdir()
    (folder / "train.py").write_text("x = 1\n")
    job = make_job(task, folder, tmp_path / "job", 1, "peak_memory_mb", {
        d.name: "/nowhere" for d in task.spec.data}, sandbox=Sandbox("none"))
    # the result's value is the objective's number; the harness runs the public evaluation
    assert job.evaluation == "peak_memory_mb"
    assert job.config["evaluation"]["name"] == "val_bpb"
    assert job.config["evaluation"]["test_data"] == "tinyshakespeare"


@pytest.mark.slow
def test_a_run_with_another_objective_judges_that_metric(tmp_path):
    run = recursor.run("tiny-lm", objective="train_seconds", run_dir=Path(tmp_path) / "run",
                       experiments=1, workers=2, overrides=SMALL, heldout=False,
                       discoveries=False)
    report = run.report()
    assert report["metric"]["name"] == "train_seconds"
    assert report["pareto"]["axes"][0]["name"] == "train_seconds"
    nodes = run.nodes()
    evaluations = [e for n in nodes for e in n.evaluations]
    assert evaluations and {e.evaluation for e in evaluations} == {"train_seconds"}
    for e in evaluations:  # the value judged is the training time; the rest is still recorded
        assert e.value == e.metrics["metrics"]["train_seconds"] == \
            e.metrics["usage"]["train"]["wall"]
        assert {"val_bpb", "peak_memory_mb"} <= set(e.metrics["metrics"])
    decided = [n for n in nodes if not n.is_baseline and n.status is not NodeStatus.FAILED]
    assert decided and all("train_seconds" in n.reason for n in decided), \
        [n.reason for n in decided]
    # nothing stopped on a curve that tracks val_bpb, not the objective
    assert report["value"] == {"enabled": False, "why": "the task streams no curve"}
