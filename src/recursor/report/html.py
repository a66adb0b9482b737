"""The run report as one static HTML page: `recursor report RUN --html`.

Self-contained: the stylesheet and the plots (SVG) are inline, there is no script and no link
out of the page, so it can be mailed, archived, or opened offline years later. It holds the
tables of the text and JSON report (counts, baseline and best, every node, value function and
engine, proposers, auditor findings), the progress plot and the lineage tree, and for each
accepted step its evidence: idea, verdict, per-seed metrics against its parent, plots.

    from recursor.report import html
    html.write(recursor.open_run("runs/demo"), "report.html")
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import recursor
from recursor.report import fragments as f
from recursor.report import pareto, plots
from recursor.report.detail import node_detail
from recursor.report.render import sandbox_warning

if TYPE_CHECKING:
    from recursor.report.run import Run


def stylesheet() -> str:
    return resources.files("recursor.report").joinpath("style.css").read_text()


def _plot(svg: str | None, empty: str) -> str:
    return f'<div class="plot">{svg}</div>' if svg else f'<p class="muted">{f.esc(empty)}</p>'


def _step(run: Run, node: dict[str, Any], link: f.Link) -> str:
    """One accepted step and its evidence."""
    d = node_detail(run, node["id"], log_lines=0)
    parent = d["parent"]
    head = (f'<h3>node {d["id"]}'
            + (f' ← node {f.node_ref(parent["id"], link)}' if parent else "")
            + f': {f.esc(d["title"])} {f.badge(d["status"])}</h3>')
    held = ""
    if node.get("heldout"):
        held = ("<p>Held out (never seen by the search): "
                + "; ".join(f'{f.esc(name)} {h["mean"]:.4f}'
                            + (f' ({h["gain_pct"]:+.2f}% vs baseline)' if h.get("gain_pct") is not None
                               else "")
                            for name, h in node["heldout"].items()) + "</p>")
    findings = ""
    if d["findings"]:
        findings = "<h4>Auditor findings</h4>" + f.findings_table(
            {"nodes": [{**node, "audit": d["findings"]}]}, link)
    plots_html = (_plot(plots.seeds_svg(run, d["id"]), "No finished seed.")
                  + _plot(plots.curves_svg(run, d["id"]), "No curve was streamed."))
    return (f'<section class="step" id="node-{d["id"]}">{head}'
            f'<div class="reason s-accepted">{f.esc(d["reason"])}</div>'
            f'<div class="grid2"><div>{f.idea_table(d["idea"])}</div>'
            f'<div>{f.verdict_table(d["verdict"], d["metric"], link)}</div></div>'
            f'{held}{f.seeds_table(d, link)}<div class="plots">{plots_html}</div>{findings}</section>')


def page(run: Run) -> str:
    """The report page of a run (live or finished) as HTML text."""
    report = run.report()
    accepted = [n for n in report["nodes"] if n["status"] == "accepted" and n["parent"] is not None]
    # a node links to its section when it has one; the baseline to the summary
    sections = {n["id"] for n in accepted}

    def link(node_id: int) -> str | None:
        return f"#node-{node_id}" if node_id in sections else None

    title = f"recursor run: {report['task']}"
    steps = "".join(_step(run, n, link) for n in accepted) or (
        '<p class="muted">No candidate was proven better than its parent (yet).</p>')
    settings = "".join(f"<tr><th>{f.esc(k)}</th><td>{f.esc(v)}</td></tr>"
                       for k, v in sorted((report.get("config") or {}).items())
                       if v not in (None, (), [], {}, ""))
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    body = f"""
<h1>{f.esc(title)} {f.badge(report['status'])}</h1>
{_warning(report)}
<p class="sub">{f.esc(report['run_dir'])} · metric {f.esc(report['metric']['name'])}
({f.esc(report['metric']['direction'])}) · seeds {f.esc(', '.join(str(s) for s in report['seeds']))}</p>
<section id="summary">{f.facts(report)}
<div class="grid2"><div><h3>Counts</h3>{f.counts_table(report)}</div>
<div><h3>Baseline and best</h3>{f.best_table(report, link)}</div></div></section>
<h2>Progress</h2>
{_plot(plots.progress_svg(run), "")}
<h2>Lineage</h2>
{f.tree(report, link)}
<h2>Accepted steps</h2>
{steps}
<h2>Every node</h2>
{f.nodes_table(report, link)}
<h2>{pareto.TITLE}</h2>
{pareto.html_section(report, link, plots.pareto_svg(report.get("pareto")))}
<h2>Value function, engine, proposers</h2>
{f.value_lines(report)}
{f.proposers_table(report)}
<h2>Auditor findings</h2>
{f.findings_table(report, link)}
<h2>Settings</h2>
<table class="kv">{settings}</table>
<footer>Made by recursor {f.esc(recursor.__version__)} on {f.esc(stamp)} from the run's database;
<code>recursor report {f.esc(report['run_dir'])} --json</code> gives the same data.</footer>"""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{f.esc(title)}</title><style>{stylesheet()}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def _warning(report: dict[str, Any]) -> str:
    warning = sandbox_warning(report.get("sandbox"))
    return f'<p class="warning"><strong>{f.esc(warning)}</strong></p>' if warning else ""


def write(run: Run, path: Path | str) -> Path:
    """Write the report page of `run` to `path`; returns the path."""
    path = Path(path)
    path.write_text(page(run), encoding="utf-8")
    return path
