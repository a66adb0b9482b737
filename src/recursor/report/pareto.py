"""The Pareto front of a run's accepted nodes over its objective and the task's secondary metrics.

A node is on the front when no other accepted node is at least as good on every metric and
better on one; nodes with equal values on every metric dominate neither each other, so both
stay on it. Each node's value of a metric is its mean over the task's seeds (the seeds every
accepted node has run), as the harness reported it with the public evaluation. The judge
accepted each of these nodes on its objective only; the front is what a person picks from when
the other metrics matter too (a faster or leaner program for a little of the objective).

Computed here once, from the read model (`front(run.task.spec, run.nodes())`, which
`Run.report()` adds to the report as `pareto`), and drawn from that data by every view: the
terminal table (`renderables`), the Markdown page (`markdown`), the HTML report and the
dashboard (`html_section`, `svg`).

    "pareto": {"axes": [{name, direction, unit, objective}],
               "front": [{node, title, values: {name: mean}, seeds}],
               "dominated": [{node, title, values, seeds, by}], "unmeasured": [node, ...]}

It is None for a task without secondary metrics (and so for runs made before they existed):
over one metric the front is just the best node, which the report already names.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recursor.store import Node, NodeStatus

if TYPE_CHECKING:
    from rich.console import RenderableType

    from recursor.task.spec import TaskSpec


@dataclass(frozen=True)
class Axis:
    name: str
    minimize: bool
    unit: str = ""
    objective: bool = False

    def better(self, a: float, b: float) -> bool:
        return a < b if self.minimize else a > b


@dataclass(frozen=True)
class Point:
    node: int
    title: str
    values: dict[str, float]
    seeds: int  # the fewest seeds any of its metrics is averaged over
    by: int | None = field(default=None, compare=False)  # a node that dominates it


def dominates(a: Point, b: Point, axes: Sequence[Axis]) -> bool:
    """`a` is at least as good as `b` on every axis and better on one."""
    va, vb = a.values, b.values
    if any(ax.better(vb[ax.name], va[ax.name]) for ax in axes):
        return False
    return any(ax.better(va[ax.name], vb[ax.name]) for ax in axes)


def pareto_front(points: Sequence[Point], axes: Sequence[Axis]) -> tuple[list[Point], list[Point]]:
    """(the front, best objective first; the dominated points, each with a node that beats it,
    one on the front when one does)."""
    front, dominated = [], []
    for p in points:
        beaten_by = [q for q in points if q is not p and dominates(q, p, axes)]
        if not beaten_by:
            front.append(p)
            continue
        # domination is transitive, so some point of the front dominates p: name that one
        on_front = [q for q in beaten_by if not any(dominates(r, q, axes) for r in points)]
        dominated.append(Point(p.node, p.title, p.values, p.seeds,
                               by=(on_front or beaten_by)[0].node))
    objective = next((ax for ax in axes if ax.objective), axes[0])
    sign = 1 if objective.minimize else -1
    front.sort(key=lambda p: (sign * p.values[objective.name], p.node))
    dominated.sort(key=lambda p: p.node)
    return front, dominated


def axes_of(spec: Any) -> tuple[Axis, ...]:
    """The objective (the run's `spec.metric`), then the secondary metrics."""
    return tuple(Axis(m.name, m.direction == "minimize", m.unit, i == 0)
                 for i, m in enumerate(spec.metrics))


def point(node: Node, evaluation: str, axes: Sequence[Axis], seeds: Sequence[int]) -> Point | None:
    """A node's means over `seeds`; None when a metric was never measured on it."""
    values, counts = {}, []
    for ax in axes:
        found = node.measured(evaluation, ax.name, seeds)
        if not found:
            return None
        values[ax.name] = sum(found.values()) / len(found)
        counts.append(len(found))
    return Point(node.id, node.title, values, min(counts))


def front(spec: TaskSpec, nodes: Iterable[Node]) -> dict[str, Any] | None:
    """The front of a run of a task with `spec`, over its `nodes`, as report data (see the
    module); None without secondary metrics."""
    if not spec.secondary:
        return None
    axes = axes_of(spec)
    seeds = list(spec.seeds.values)
    points, unmeasured = [], []
    for node in nodes:
        if node.status is not NodeStatus.ACCEPTED:
            continue
        p = point(node, spec.metric.name, axes, seeds)
        if p is None:
            unmeasured.append(node.id)
        else:
            points.append(p)
    on, off = pareto_front(points, axes) if points else ([], [])
    return {
        "axes": [{"name": ax.name, "direction": "minimize" if ax.minimize else "maximize",
                  "unit": ax.unit, "objective": ax.objective} for ax in axes],
        "front": [_entry(p) for p in on],
        "dominated": [{**_entry(p), "by": p.by} for p in off],
        "unmeasured": unmeasured,
    }


def _entry(p: Point) -> dict[str, Any]:
    return {"node": p.node, "title": p.title, "values": dict(p.values), "seeds": p.seeds}


# -- views: every one drawn from the report's `pareto` data ------------------------------------

TITLE = "Pareto front"
EXPLAIN = ("accepted nodes that no other accepted node matches or beats on every metric "
           "(means over the task's seeds)")
UNMEASURED = "no accepted node was measured on every metric yet"


def number(x: float | None, scale: float | None = None) -> str:
    """`x` with the decimals its size needs; `scale` (the largest of a column) keeps a column's
    decimals alike."""
    if x is None:
        return "–"
    big = abs(x) if scale is None else scale
    return f"{x:.1f}" if big >= 100 else f"{x:.2f}" if big >= 10 else f"{x:.4f}"


def axis_label(ax: Mapping[str, Any]) -> str:
    arrow = "↓" if ax["direction"] == "minimize" else "↑"
    unit = f" ({ax['unit']})" if ax.get("unit") else ""
    return f"{ax['name']}{unit} {arrow}" + (" (objective)" if ax.get("objective") else "")


def _rows(data: Mapping[str, Any]) -> list[list[str]]:
    scale = {ax["name"]: max((abs(e["values"].get(ax["name"], 0.0)) for e in data["front"]),
                             default=0.0) for ax in data["axes"]}
    return [[str(e["node"]), e["title"], *(number(e["values"].get(ax["name"]), scale[ax["name"]])
                                           for ax in data["axes"])] for e in data["front"]]


def _footnote(data: Mapping[str, Any]) -> str:
    parts = []
    if data["dominated"]:
        parts.append("dominated: " + ", ".join(f"node {e['node']} (by node {e['by']})"
                                               for e in data["dominated"]))
    if data["unmeasured"]:
        parts.append("not measured on every metric: "
                     + ", ".join(f"node {n}" for n in data["unmeasured"]))
    return "; ".join(parts)


def renderables(report: Mapping[str, Any]) -> list[RenderableType]:
    """The front for the terminal (`recursor report`): a title, a table, who was left out."""
    data = report.get("pareto")
    if not data:
        return []
    from rich.table import Table
    from rich.text import Text

    if not data["front"]:
        return [Text(f"{TITLE}: {UNMEASURED}")]
    table = Table(title=f"{TITLE}: {EXPLAIN}", title_justify="left", header_style="bold")
    table.add_column("node", justify="right")
    table.add_column("idea", overflow="fold")
    for ax in data["axes"]:
        table.add_column(axis_label(ax), justify="right")
    for row in _rows(data):
        table.add_row(*row)
    note = _footnote(data)
    return [table] + ([Text(note)] if note else [])


def markdown(report: Mapping[str, Any]) -> list[str]:
    """The front as a Markdown section (lines)."""
    data = report.get("pareto")
    if not data:
        return []
    if not data["front"]:
        return ["", f"## {TITLE}", "", UNMEASURED[0].upper() + UNMEASURED[1:] + "."]
    out = ["", f"## {TITLE}", "", f"The {EXPLAIN}.", "",
           "| node | idea | " + " | ".join(axis_label(ax) for ax in data["axes"]) + " |",
           "| ---: | --- | " + " | ".join("---:" for _ in data["axes"]) + " |"]
    for row in _rows(data):
        row[1] = row[1].replace("|", "\\|")
        out.append("| " + " | ".join(row) + " |")
    note = _footnote(data)
    if note:
        out += ["", note[0].upper() + note[1:] + "."]
    return out


def html_section(report: Mapping[str, Any], link: Callable[[int], str | None],
                 plot: str | None = None) -> str:
    """The front as HTML: a table, and `plot`, its scatter (`plots.pareto_svg`) as SVG; every
    value escaped."""
    data = report.get("pareto")
    if not data:
        return ('<p class="muted">The task declares no secondary metrics: there is no front '
                'beyond the best node.</p>')
    if not data["front"]:
        return f'<p class="muted">{UNMEASURED[0].upper() + UNMEASURED[1:]}.</p>'

    def esc(x: Any) -> str:
        return html.escape(str(x), quote=True)

    def ref(node: int) -> str:
        href = link(node)
        return f'<a href="{esc(href)}">{node}</a>' if href else str(node)

    head = "".join(f'<th class="num">{esc(axis_label(ax))}</th>' for ax in data["axes"])
    body = "".join(
        f'<tr><td class="num">{ref(e["node"])}</td><td>{esc(e["title"])}</td>'
        + "".join(f'<td class="num">{esc(cell)}</td>' for cell in row[2:]) + "</tr>"
        for e, row in zip(data["front"], _rows(data), strict=True))
    note = _footnote(data)
    return (f'<p class="muted">The {esc(EXPLAIN)}.</p>'
            f'<table class="pareto"><thead><tr><th class="num">node</th><th>idea</th>{head}'
            f'</tr></thead><tbody>{body}</tbody></table>'
            + (f'<p class="muted">{esc(note)}.</p>' if note else "")
            + (f'<div class="plot">{plot}</div>' if plot else ""))
