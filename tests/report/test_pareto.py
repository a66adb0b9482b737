"""The Pareto front of a run's accepted nodes: which nodes are on it, and every view showing it.

The runs here are made by hand (the real run folder layout, task snapshot and database, with
the metrics a harness would have written), so that the front is known in advance."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3

import pytest
from conftest import SMALL
from rich.console import Console

import recursor
from recursor.loop.setup import create_run
from recursor.report import html, pareto
from recursor.report.render import markdown_report, text_report
from recursor.settings import RunConfig
from recursor.store import ConfirmVerdict, Idea, NodeStatus
from recursor.store.schema import _V1

MIN, MAX = pareto.Axis("loss", True, objective=True), pareto.Axis("speed", False)


def pt(node: int, loss: float, speed: float) -> pareto.Point:
    return pareto.Point(node, f"n{node}", {"loss": loss, "speed": speed}, 2)


def test_dominated_points_leave_the_front_and_ties_stay_on_it():
    points = [pt(1, 3.0, 10), pt(2, 2.8, 10),   # 2 beats 1: better loss, same speed
              pt(3, 2.9, 20), pt(4, 2.9, 20),   # a tie on every metric: both stay
              pt(5, 3.1, 15),                   # beaten by 3 (and 4) on both
              pt(6, 2.5, 5)]                    # best loss, slowest: on the front
    front, dominated = pareto.pareto_front(points, [MIN, MAX])
    assert [p.node for p in front] == [6, 2, 3, 4]  # best objective first
    assert {p.node: p.by for p in dominated} == {1: 2, 5: 3}
    assert not pareto.dominates(points[2], points[3], [MIN, MAX])
    # one metric only: the front is the best node, and its ties
    front, _ = pareto.pareto_front(points, [MIN])
    assert [p.node for p in front] == [6]


def test_a_point_is_dominated_only_by_one_at_least_as_good_everywhere():
    assert pareto.dominates(pt(1, 2.0, 10), pt(2, 2.0, 9), [MIN, MAX])
    assert not pareto.dominates(pt(1, 2.0, 10), pt(2, 1.9, 9), [MIN, MAX])
    assert not pareto.dominates(pt(1, 2.0, 10), pt(2, 2.0, 10), [MIN, MAX])


# -- a run made by hand ------------------------------------------------------------------------

# node -> (parent, status, per-seed (val_bpb, train_seconds, peak_memory_mb))
NODES = {
    1: (None, NodeStatus.ACCEPTED, [(3.00, 10.0, 400.0), (3.02, 10.2, 400.0)]),  # baseline
    2: (1, NodeStatus.ACCEPTED, [(2.90, 12.0, 420.0), (2.92, 12.0, 420.0)]),     # better, slower
    3: (2, NodeStatus.ACCEPTED, [(2.80, 12.0, 430.0), (2.82, 12.2, 430.0)]),     # beats 2
    4: (1, NodeStatus.ACCEPTED, [(2.95, 8.0, 500.0), (2.97, 8.0, 500.0)]),       # fastest
    5: (1, NodeStatus.REJECTED, [(2.00, 1.0, 1.0), (2.00, 1.0, 1.0)]),           # not accepted
}


def make_run(tmp_path, nodes=NODES, objective=None, metrics_key=True, decide=None):
    config = RunConfig(experiments=4, overrides=SMALL, discoveries=False, objective=objective)
    store = create_run("tiny-lm", config, tmp_path / "run")
    try:
        seeds = list(store.meta() and SMALL["seeds.values"])
        ids = {}
        for key, (parent, status, runs) in nodes.items():
            idea = None if parent is None else Idea(f"idea {key}", proposer="library")
            node = store.add_node(ids.get(parent), idea, {"train.py": "x = 1\n"})
            ids[key] = node.id
            name = objective or "val_bpb"
            for seed, (bpb, secs, mem) in zip(seeds, runs, strict=True):
                values = {"val_bpb": bpb, "train_seconds": secs, "peak_memory_mb": mem}
                ev = store.start_evaluation(node.id, seed, name)
                record = {"metrics": values if metrics_key else {name: values[name]},
                          "train_seconds": secs}
                store.finish_evaluation(ev.id, ok=True, value=values[name], metrics=record,
                                        reason=None, seconds=secs)
            store.decide(node.id, status, *(decide or {}).get(key, ("made by hand",)))
    finally:
        store.close()
    return recursor.open_run(tmp_path / "run")


def test_the_front_of_a_run(tmp_path):
    data = make_run(tmp_path).report()["pareto"]
    assert [a["name"] for a in data["axes"]] == ["val_bpb", "train_seconds", "peak_memory_mb"]
    assert [a["objective"] for a in data["axes"]] == [True, False, False]
    # node 2 (2.91, 12.0, 420) against node 3 (2.81, 12.1, 430): not dominated, 3 is slower
    assert [e["node"] for e in data["front"]] == [3, 2, 4, 1]
    assert data["front"][0]["values"] == pytest.approx(
        {"val_bpb": 2.81, "train_seconds": 12.1, "peak_memory_mb": 430.0})
    assert data["dominated"] == [] and data["unmeasured"] == []


def test_a_dominated_node_is_named_with_the_node_that_beats_it(tmp_path):
    nodes = dict(NODES)
    nodes[3] = (2, NodeStatus.ACCEPTED, [(2.80, 11.0, 410.0), (2.82, 11.0, 410.0)])
    data = make_run(tmp_path, nodes).report()["pareto"]
    assert [e["node"] for e in data["front"]] == [3, 4, 1]
    assert [(e["node"], e["by"]) for e in data["dominated"]] == [(2, 3)]
    assert 5 not in [e["node"] for e in data["front"] + data["dominated"]]  # rejected


def test_with_another_objective_the_front_leads_with_it(tmp_path):
    data = make_run(tmp_path, objective="train_seconds").report()["pareto"]
    assert [a["name"] for a in data["axes"]] == ["train_seconds", "val_bpb", "peak_memory_mb"]
    assert [e["node"] for e in data["front"]] == [4, 1, 2, 3]


def _terminal(report) -> str:
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(text_report(report))
    return console.export_text()


def test_the_front_shows_in_the_terminal_markdown_html_and_dashboard(tmp_path):
    run = make_run(tmp_path)
    report = run.report()
    terminal = _terminal(report)
    assert "Pareto front" in terminal and "peak_memory_mb (MB) ↓" in terminal
    front = terminal.split("Pareto front", 1)[1]
    line = next(x for x in front.splitlines() if "idea 3" in x)
    assert "2.8100" in line and "12.10" in line and "430.0" in line
    assert front.index("idea 3") < front.index("idea 2") < front.index("idea 4")
    md = markdown_report(report)
    assert "## Pareto front" in md
    assert "| 3 | idea 3 | 2.8100 | 12.10 | 430.0 |" in md
    page = html.page(run)
    section = page.split("<h2>Pareto front</h2>", 1)[1]
    assert '<table class="pareto">' in section and "idea 4" in section
    assert section.index("idea 3") < section.index("idea 4") < section.index("baseline")
    assert "<svg" in section.split("<h2>", 1)[0]  # the scatter, inside the section
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from recursor.ui import create_app

    client = TestClient(create_app(run.run_dir.parent))
    board = client.get(f"/runs/{run.run_dir.name}").text
    assert "<h2>Pareto front</h2>" in board and '<table class="pareto">' in board
    state = client.get(f"/api/runs/{run.run_dir.name}/state").json()
    assert "idea 3" in state["parts"]["pareto"]["html"]


def test_nodes_without_the_secondary_metrics_are_left_off_and_said(tmp_path):
    report = make_run(tmp_path, metrics_key=False).report()
    data = report["pareto"]
    assert data["front"] == [] and data["unmeasured"] == [1, 2, 3, 4]
    assert "No accepted node was measured" in pareto.html_section(report, str)
    assert "Pareto front: no accepted node was measured on every metric" in _terminal(report)
    assert "No accepted node was measured on every metric yet." in markdown_report(report)


def _strip_secondary(task_toml):
    text = task_toml.read_text()
    head, _, rest = text.partition("# Secondary metrics")
    task_toml.write_text(head + rest[rest.index("[budget]"):])


def test_an_old_run_without_secondary_metrics_still_reports(tmp_path):
    """A run database of schema version 1, its config and task snapshot from before secondary
    metrics: it opens, reports, and has no front."""
    made = make_run(tmp_path / "new", metrics_key=False)
    old = tmp_path / "old"
    old.mkdir()
    shutil.copytree(made.run_dir / "task", old / "task")
    _strip_secondary(old / "task" / "task.toml")
    conn = sqlite3.connect(old / "run.db")
    conn.executescript(_V1 + "\nPRAGMA user_version = 1;")
    config = {k: v for k, v in made.config.to_json().items() if k != "objective"}
    for key, value in (("task", "tiny-lm"), ("config", config), ("finished_at", 1.0)):
        conn.execute("INSERT INTO meta VALUES (?, ?)", (key, json.dumps(value)))
    conn.execute("INSERT INTO nodes VALUES (1, NULL, 'accepted', NULL, NULL, NULL, '', 0, 1, "
                 "'baseline', NULL)")
    for seed, bpb in ((1, 3.0), (2, 3.02)):
        conn.execute("INSERT INTO evaluations (node_id, seed, evaluation, status, value, metrics,"
                     " started_at, finished_at, seconds, job_dir) VALUES (1, ?, 'val_bpb', 'ok',"
                     " ?, ?, 0, 1, 1, '')", (seed, bpb, json.dumps({"metrics": {"val_bpb": bpb}})))
    conn.commit()
    conn.close()
    run = recursor.open_run(old)
    report = run.report()
    assert report["pareto"] is None and report["baseline"]["mean"] == pytest.approx(3.01)
    terminal = _terminal(report)
    assert "Pareto" not in terminal and "val_bpb" in terminal
    assert "Pareto" not in markdown_report(report)
    assert "declares no secondary metrics" in html.page(run)


def test_a_node_rejected_on_a_constraint_says_so_in_the_tables(tmp_path):
    reason = ("constraint: peak_memory_mb at most 10% above the parent's: not shown to hold on "
              "2 fresh seed pairs (mean headroom -58, lower bound -71); though 0.1 val_bpb "
              "better vs node 1 on 2 fresh seed pairs, 95% CI [+0.05, +0.15], p=0.001")
    verdict = ConfirmVerdict(1, 0.1, (1000500, 1000501), 0.1, (0.05, 0.15), 3.3, (1.6, 5.0),
                             0.001, 0.02, 0.01, 6, passed=True)
    run = make_run(tmp_path, decide={5: (reason, verdict)})
    row = next(n for n in run.report()["nodes"] if n["id"] == 5)
    assert row["why"]["kind"] == "constraint"
    assert row["why"]["label"] == "constraint: peak_memory_mb"
    assert row["why"]["detail"].startswith("peak_memory_mb at most 10% above the parent's")
    assert "constraint: peak_memory_mb" in _terminal(run.report())
    assert 'class="w-constraint"' in html.page(run)
