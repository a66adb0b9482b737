"""The parts of the dashboard's pages that change while a run goes, rendered to HTML.

A page is drawn with its parts in place; its script then asks the page's state endpoint for
the same parts every few seconds and swaps those whose version changed. One function draws a
part for both, so a refreshed part is exactly what a reload would show.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jinja2 import Environment
from markupsafe import Markup

from recursor.report import fragments as f
from recursor.report import pareto, plots
from recursor.report.detail import node_detail

if TYPE_CHECKING:
    from recursor.api import Run


NO_VERDICT = {"running": "Not decided yet: the judge decides once the seeds it needs are in.",
              "failed": "None: the node failed before the judge could compare it with its parent "
                        "(why is above)."}


def run_href(key: str) -> str:
    return "/runs/" + quote(key, safe="/")


def node_linker(key: str) -> Callable[[int], str]:
    base = run_href(key)
    return lambda node_id: f"{base}/nodes/{int(node_id)}"


def version(html: str) -> str:
    return hashlib.sha1(html.encode()).hexdigest()[:12]


class PlotCache:
    """Plots keyed by what they show: a poll that finds the run unchanged draws nothing."""

    def __init__(self, size: int = 64):
        self._items: OrderedDict[tuple, str | None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple, draw: Callable[[], str | None]) -> str | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        svg = draw()
        with self._lock:
            self._items[key] = svg
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return svg


def _nodes_state(run: Run) -> tuple:
    """What a run's plots depend on: every node's status and evaluations."""
    return tuple((n.id, n.status.value, n.decided_at,
                  tuple((e.id, e.status.value, e.value) for e in n.evaluations))
                 for n in run.nodes())


def run_parts(run: Run, key: str, env: Environment, cache: PlotCache) -> dict[str, Any]:
    report = run.report()
    link = node_linker(key)
    live = report["status"] == "running"
    # a running run's time axis grows: redraw at most every 20 s when nothing else changed
    clock = int(time.time() // 20) if live else 0
    progress = cache.get(("progress", str(run.run_dir), _nodes_state(run), clock),
                         lambda: plots.progress_svg(run))
    events = run.events(limit=15)
    for e in events:
        e["time"] = time.strftime("%H:%M:%S", time.localtime(e["at"]))
    parts = {
        "status": f.badge(report["status"]),
        "facts": f.facts(report) + f.counts_table(report) + f.best_table(report, link),
        "progress": f'<div class="plot">{progress}</div>',
        "tree": f.tree(report, link),
        "events": env.get_template("parts/events.html").render(events=events, link=link),
        "nodes": f.nodes_table(report, link),
        # its scatter is drawn with matplotlib: again only when a node changed
        "pareto": cache.get(("pareto", str(run.run_dir), _nodes_state(run)),
                            lambda: pareto.html_section(
                                report, link, plots.pareto_svg(report.get("pareto")))) or "",
    }
    return {"live": live, "status": report["status"], "report": report, "parts": parts}


def node_parts(run: Run, key: str, node_id: int, env: Environment, cache: PlotCache,
               log_lines: int = 80) -> dict[str, Any]:
    d = node_detail(run, node_id, log_lines)
    link = node_linker(key)
    state = (str(run.run_dir), node_id, _nodes_state(run))
    seeds = cache.get(("seeds", *state), lambda: plots.seeds_svg(run, node_id))
    # a running node's curves grow between results: redraw them at each poll
    curves_key = ("curves", *state, time.time() if d["status"] == "running" else 0)
    curves = cache.get(curves_key, lambda: plots.curves_svg(run, node_id))
    live = d["status"] == "running" and run.status == "running"
    ctx = {"d": d, "link": link, "f": f, "Markup": Markup}
    parts = {
        "status": f.badge(d["status"]),
        "decision": env.get_template("parts/decision.html").render(**ctx),
        "verdict": (f.verdict_table(d["verdict"], d["metric"], link) if d["verdict"]
                    else f'<p class="muted">{NO_VERDICT.get(d["status"], "No verdict recorded.")}</p>'),
        "seeds": f.seeds_table(d, link),
        "plots": env.get_template("parts/plots.html").render(seeds=seeds and Markup(seeds),
                                                            curves=curves and Markup(curves)),
        "logs": env.get_template("parts/logs.html").render(**ctx),
    }
    return {"live": live, "status": d["status"], "detail": d, "parts": parts}


def versioned(parts: dict[str, str]) -> dict[str, dict[str, str]]:
    """The parts as the state endpoint sends them: html and a version to compare."""
    return {name: {"version": version(html), "html": html} for name, html in parts.items()}
