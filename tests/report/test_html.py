"""The static HTML report and the plots, drawn from a real run of tiny-lm."""

from __future__ import annotations

import html as stdlib_html
import re
import shutil

import pytest
from typer.testing import CliRunner

import recursor
from recursor.cli.app import app
from recursor.report import html, plots
from recursor.store import Idea, NodeStatus, RunStore

pytestmark = pytest.mark.slow

HOSTILE_TITLE = '<script>alert("title")</script><img src=x onerror=alert(1)>'
HOSTILE_DIFF = "--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-x = 1\n+</pre><script>alert(2)</script>\n"


@pytest.fixture(scope="module")
def hostile_run(small_run, tmp_path_factory):
    """A copy of the shared run with one more node whose idea, reason and diff are HTML that
    would run if a page printed it as it is."""
    dest = tmp_path_factory.mktemp("hostile") / "run"
    shutil.copytree(small_run.run_dir, dest)
    store = RunStore.open(dest)
    try:
        baseline = next(n for n in store.nodes() if n.is_baseline)
        idea = Idea(HOSTILE_TITLE, hypothesis="</td></table><script>alert(3)</script>",
                    proposer="person")
        node = store.add_node(baseline.id, idea, store.files(baseline), patch_text="x",
                              diff_text=HOSTILE_DIFF)
        store.decide(node.id, NodeStatus.REJECTED, reason="screen: <b onmouseover=alert(4)>no</b>")
    finally:
        store.close()
    run = recursor.open_run(dest)
    yield run
    run.close()


def test_the_page_holds_the_reports_tables_plots_and_evidence(small_run):
    page = html.page(small_run)
    report = small_run.report()
    assert page.startswith("<!doctype html>")
    # self-contained: no script, no stylesheet or image fetched from anywhere
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    counts = re.search(r'<table class="counts">.*?<tbody><tr>(.*?)</tr>', page).group(1)
    cells = re.findall(r">(\d+)</td>", counts)
    c = report["counts"]
    assert cells[:5] == [str(c[k]) for k in ("experiments", "accepted", "rejected", "failed",
                                             "stopped_early")]
    assert f"baseline (node {report['baseline']['node']})" in page
    for n in report["nodes"]:  # every node in the table and the tree, with its status
        assert stdlib_html.escape(n["title"]) in page
        assert f'data-node="{n["id"]}" data-status="{n["status"]}"' in page
    # each accepted step has its evidence: its verdict's p-value and two plots of its own
    steps = [n for n in report["nodes"] if n["status"] == "accepted" and n["parent"] is not None]
    for n in steps:
        section = page.split(f'<section class="step" id="node-{n["id"]}">', 1)[1].split("</section>")[0]
        assert f"{n['verdict']['p_value']:.3g}" in section
        assert section.count("<svg") == 2 and "train_loss while training" in section
    scatter = bool(report["pareto"] and report["pareto"]["front"])  # the Pareto front's plot
    assert page.count("<svg") == 1 + 2 * len(steps) + scatter
    assert "best val_bpb over time" in page and "Auditor findings" in page


def test_run_text_is_escaped_everywhere(hostile_run):
    page = html.page(hostile_run)
    for raw in (HOSTILE_TITLE, "<script>alert(2)", "<script>alert(3)", "<b onmouseover"):
        assert raw not in page
    assert stdlib_html.escape(HOSTILE_TITLE) in page  # shown, as text
    assert "&lt;b onmouseover=alert(4)&gt;" in page


def test_plots_draw_what_the_run_did(small_run, tmp_path):
    report = small_run.report()
    svg = plots.progress_svg(small_run)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    c = report["counts"]
    for status, key in (("accepted", "accepted"), ("rejected", "rejected"), ("failed", "failed"),
                        ("stopped-early", "stopped_early")):
        legend = f"{status} ({c[key]})"
        assert (legend in svg) == (c[key] > 0), legend  # a dot per decided candidate, by status
    node = next(n for n in small_run.nodes() if not n.is_baseline and n.values("val_bpb"))
    curves = plots.curves_svg(small_run, node.id)
    assert f"node {node.id}" in curves and f"parent, node {node.parent_id}" in curves
    seeds = plots.seeds_svg(small_run, node.id)
    assert "mean paired improvement" in seeds
    png = plots.write(plots.progress_figure(small_run), tmp_path / "progress.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_writes_the_html_report(hostile_run, tmp_path):
    runner = CliRunner()
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(hostile_run.run_dir), "--html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "<svg" in out.read_text() and str(out) in result.output
    result = runner.invoke(app, ["report", str(hostile_run.run_dir), "--html"])
    assert result.exit_code == 0 and (hostile_run.run_dir / "report.html").is_file()
    result = runner.invoke(app, ["report", str(hostile_run.run_dir), "--html", "--json"])
    assert result.exit_code == 2 and "choose one" in result.output
