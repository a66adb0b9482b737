"""Runs logged to MLflow: a real MLflow store (SQLite, as `mlflow ui` reads it) and its client."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

import recursor
from recursor.cli.app import app
from recursor.errors import RecursorError
from recursor.store import NodeStatus

mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed: pip install "
                                              "'recursor[mlflow]' sqlalchemy alembic")
from mlflow.tracking import MlflowClient  # noqa: E402

MLFLOW_STATUS = {"accepted": "FINISHED", "rejected": "FINISHED", "failed": "FAILED",
                 "stopped-early": "KILLED"}


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A fresh MLflow store; its artifacts go under the test's folder (MLflow puts them beside
    the working directory for a SQLite store)."""
    monkeypatch.chdir(tmp_path)
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def runs_of(client, experiment="recursor/tiny-lm"):
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000)


def histories(client, run):
    return {k: len(client.get_metric_history(run.info.run_id, k)) for k in run.data.metrics}


@pytest.mark.slow
def test_a_finished_run_lands_in_mlflow_and_logging_it_again_adds_nothing(small_run, tracking):
    done = recursor.log_mlflow(small_run.run_dir, tracking)
    nodes = small_run.nodes()
    assert (done.logged, done.nodes, done.status) == (len(nodes), len(nodes), "finished")
    client = MlflowClient(tracking)
    found = runs_of(client)
    assert len(found) == len(nodes) + 1
    top = next(r for r in found if "recursor.node" not in r.data.tags)
    assert top.info.run_id == done.run_id and top.info.status == "FINISHED"
    assert top.info.run_name == small_run.run_dir.name
    assert top.data.params["task"] == "tiny-lm" and top.data.params["metric"] == "val_bpb"
    report = small_run.report()
    assert top.data.metrics["best/val_bpb"] == pytest.approx(report["best"]["mean"])
    assert top.data.metrics["count/accepted"] == report["counts"]["accepted"]
    with open(client.download_artifacts(top.info.run_id, "report.json")) as f:
        logged_report = json.load(f)
    assert logged_report["best"] == report["best"]

    seeds = small_run.task.spec.seeds.values
    by_node = {int(r.data.tags["recursor.node"]): r for r in found if r is not top}
    assert set(by_node) == {n.id for n in nodes}
    for node in nodes:
        r = by_node[node.id]
        assert r.data.tags["mlflow.parentRunId"] == top.info.run_id
        assert r.data.tags["recursor.status"] == node.status.value
        assert r.info.status == MLFLOW_STATUS[node.status.value]
        assert r.data.params["idea"] == node.title
        if node.mean("val_bpb", seeds) is not None:
            assert r.data.metrics["val_bpb"] == pytest.approx(node.mean("val_bpb", seeds))
        for seed, value in node.values("val_bpb").items():
            assert r.data.metrics[f"val_bpb/seed_{seed}"] == pytest.approx(value)
    # a streamed curve arrives point by point, at its steps
    ev = next(e for e in nodes[0].evaluations if small_run.curve(e.id))
    points = small_run.curve(ev.id)
    key = small_run.task.spec.metric.curve  # what tiny-lm streams: its training loss
    history = client.get_metric_history(by_node[nodes[0].id].info.run_id,
                                        f"curve/{key}/seed_{ev.seed}")
    expect = [(p["step"], p[key]) for p in points if key in p]
    got = sorted((m.step, m.value) for m in history)
    assert expect and [s for s, _ in got] == [s for s, _ in sorted(expect)]
    assert [v for _, v in got] == pytest.approx([v for _, v in sorted(expect)])
    # a candidate's change is there as a patch, as the run recorded it
    candidate = next(n for n in nodes if not n.is_baseline and n.diff_path)
    with open(client.download_artifacts(by_node[candidate.id].info.run_id, "step.patch")) as f:
        assert f.read() == small_run.path(candidate.diff_path).read_text()

    before = {r.info.run_id: histories(client, r) for r in found}
    again = recursor.log_mlflow(small_run.run_dir, tracking)
    assert again.logged == 0 and again.run_id == done.run_id
    after = runs_of(client)
    assert {r.info.run_id: histories(client, r) for r in after} == before


@pytest.mark.slow
def test_a_run_is_logged_while_it_goes(tmp_path, tracking, small, monkeypatch):
    from recursor.report import mlflow_log

    monkeypatch.setattr(mlflow_log, "FOLLOW_SECONDS", 0.5)
    client = MlflowClient(tracking)
    seen_running: list[int] = []
    result: dict = {}

    def research():
        try:
            recursor.run("tiny-lm", run_dir=tmp_path / "run", experiments=1, workers=2,
                         overrides={**small, "budget.train_tokens": 8192},
                         heldout=False,
                         mlflow=tracking).close()
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            result["error"] = err

    thread = threading.Thread(target=research)
    thread.start()
    while thread.is_alive():
        exp = client.get_experiment_by_name("recursor/tiny-lm")
        if exp is not None:
            top = [r for r in client.search_runs([exp.experiment_id])
                   if "recursor.node" not in r.data.tags]
            if top and top[0].info.status == "RUNNING":
                seen_running.append(len(client.search_runs([exp.experiment_id])) - 1)
        time.sleep(0.3)
    thread.join()
    assert "error" not in result, result.get("error")
    assert seen_running and max(seen_running) >= 1  # nodes were in MLflow before the run ended
    run = recursor.open_run(tmp_path / "run")
    found = runs_of(client)
    top = next(r for r in found if "recursor.node" not in r.data.tags)
    assert top.info.status == "FINISHED" and top.data.tags["recursor.status"] == "finished"
    assert len(found) == len(run.nodes()) + 1
    assert all(r.data.tags["recursor.status"] != NodeStatus.RUNNING.value for r in found)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("uri", ["nosuchscheme://nowhere", "http://127.0.0.1:{port}"])
def test_a_tracking_uri_that_does_not_answer_stops_the_run_before_it_starts(tmp_path, uri):
    started = time.monotonic()
    with pytest.raises(RecursorError, match="MLflow"):
        recursor.run("tiny-lm", run_dir=tmp_path / "run", experiments=1,
                     mlflow=uri.format(port=closed_port()))
    assert not (tmp_path / "run").exists()
    assert time.monotonic() - started < 30  # asked once, not retried for minutes


def test_a_tracking_server_that_goes_down_costs_a_warning_not_the_run(small_run, monkeypatch,
                                                                       caplog):
    from recursor.report.mlflow_log import Follower

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with caplog.at_level(logging.WARNING, logger="recursor.mlflow"), \
            Follower(small_run.run_dir, f"http://127.0.0.1:{closed_port()}", every=0.2) as f:
        time.sleep(1)
    assert f.error is not None and f.last is None
    warned = [r.getMessage() for r in caplog.records if r.name == "recursor.mlflow"]
    assert len(warned) == 1  # the same failure is told once, not at every try
    assert "the run goes on" in warned[0] and "recursor mlflow" in warned[0]


def test_the_command_logs_a_run_and_says_what_to_install_without_mlflow(small_run, tracking,
                                                                          monkeypatch):
    runner = CliRunner()
    ok = runner.invoke(app, ["mlflow", str(small_run.run_dir), "--uri", tracking,
                             "--experiment", "team/lm"])
    assert ok.exit_code == 0, ok.output
    assert f"{len(small_run.nodes())} node(s) logged" in ok.output
    assert len(runs_of(MlflowClient(tracking), "team/lm")) == len(small_run.nodes()) + 1

    not_a_run = runner.invoke(app, ["mlflow", str(small_run.run_dir.parent / "nope")])
    assert not_a_run.exit_code == 2 and "not a run folder" in not_a_run.output

    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # `import mlflow...` now fails
    missing = runner.invoke(app, ["mlflow", str(small_run.run_dir), "--uri", tracking])
    assert missing.exit_code == 2
    assert "pip install 'recursor[mlflow]'" in missing.output
