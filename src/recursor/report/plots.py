"""The run's plots, drawn with matplotlib: progress over time, a node's curves, its seeds.

Each plot is a `matplotlib.figure.Figure` made directly (never through pyplot, so a notebook's
figures, backend and state are left alone) and returned as SVG text ready to inline in HTML, or
written to a file (`write`: .svg, .png, .pdf by the suffix).

    from recursor.report import plots
    svg = plots.progress_svg(run)            # str: <svg ...>...</svg>
    plots.write(plots.progress_figure(run), "progress.png")

Idea text never goes into a plot: it is untrusted, and matplotlib would read `$...$` in it as
math. Nodes are named by their ids.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from recursor.executor.job import read_metrics
from recursor.report.pareto import axis_label
from recursor.store import EvalStatus, Evaluation, Node, NodeStatus

if TYPE_CHECKING:
    from recursor.report.run import Run

# Okabe-Ito colours: told apart with every common colour-vision deficiency; report.css uses them too
STATUS_COLOR = {"accepted": "#009E73", "rejected": "#E69F00", "stopped-early": "#CC79A7",
                "failed": "#D55E00", "running": "#0072B2"}
STATUS_MARKER = {"accepted": "o", "rejected": "o", "stopped-early": "v", "failed": "X",
                 "running": "s"}
SEED_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
               "#F0E442")
BETTER, WORSE, PARENT = "#009E73", "#D55E00", "#7f7f7f"
# x keys a curve point may carry that are not the quantity itself
_NOT_QUANTITIES = {"progress", "step", "tokens", "elapsed", "lr", "type"}

# savefig reads rcParams; rc_context changes them process-wide, so one figure saves at a time
_SAVING = threading.Lock()


def svg(fig: Figure) -> str:
    """The figure as an <svg> element (no XML prolog), with real text rather than glyph paths:
    smaller, selectable, and free of the glyph ids that would clash between inlined plots."""
    buf = io.BytesIO()
    with _SAVING, matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue().decode()
    return text[text.index("<svg"):]


def write(fig: Figure, path: Path | str, dpi: int = 150) -> Path:
    """Write the figure to `path`; the suffix names the format (.svg, .png, .pdf)."""
    path = Path(path)
    with _SAVING:
        fig.savefig(path, dpi=dpi, metadata={"Date": None} if path.suffix == ".svg" else None)
    return path


def progress_svg(run: Run) -> str:
    return svg(progress_figure(run))


def curves_svg(run: Run, node_id: int) -> str | None:
    """None when neither the node nor its parent has streamed a curve."""
    fig = curves_figure(run, node_id)
    return svg(fig) if fig is not None else None


def seeds_svg(run: Run, node_id: int) -> str | None:
    """None when the node has no finished seed."""
    fig = seeds_figure(run, node_id)
    return svg(fig) if fig is not None else None


def _figure(width: float = 7.2, height: float = 3.4) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _metric_label(spec: Any) -> str:
    m = spec.metric
    arrow = "lower is better" if spec.minimize else "higher is better"
    return f"{m.name}" + (f" ({m.unit})" if m.unit else "") + f" — {arrow}"


# -- progress: the best metric over the run's wall time ----------------------------------------


def progress_figure(run: Run) -> Figure:
    """The best accepted node's mean (on the task's seeds) over wall time, as a step line; every
    decided candidate as a dot coloured by its status; the baseline dashed. A candidate with no
    value (failed, stopped early) sits on a strip along the bottom; a value far off the scale is
    drawn at the edge as a triangle pointing off it."""
    spec = run.task.spec
    metric, minimize, seeds = spec.metric.name, spec.minimize, list(spec.seeds.values)
    nodes = run.nodes()
    fig, ax = _figure()
    ax.set_xlabel("minutes since the run started")
    ax.set_ylabel(_metric_label(spec), fontsize=8)
    baseline = next((n for n in nodes if n.is_baseline), None)
    base_mean = baseline.mean(metric, seeds) if baseline else None
    if baseline is None or base_mean is None:
        ax.text(0.5, 0.5, "no result yet: the baseline is running", ha="center", va="center",
                transform=ax.transAxes, color="#555555")
        ax.set_yticks([])
        return fig
    t0 = min(n.created_at for n in nodes)
    now = max([n.decided_at or n.created_at for n in nodes]
              + ([time.time()] if any(n.status is NodeStatus.RUNNING for n in nodes) else []))

    def minutes(t: float) -> float:
        return (t - t0) / 60

    better = (lambda a, b: a < b) if minimize else (lambda a, b: a > b)
    # the best-so-far step line, from the baseline's verdict on
    accepted = sorted((n for n in nodes if n.status is NodeStatus.ACCEPTED and not n.is_baseline
                       and n.decided_at and n.mean(metric, seeds) is not None),
                      key=lambda n: n.decided_at)
    xs, ys = [minutes(baseline.decided_at or baseline.created_at)], [base_mean]
    best = base_mean
    for n in accepted:
        m = n.mean(metric, seeds)
        if better(m, best):
            best = m
            xs.append(minutes(n.decided_at))
            ys.append(best)
    xs.append(minutes(now))
    ys.append(best)
    ax.step(xs, ys, where="post", color=STATUS_COLOR["accepted"], linewidth=2, zorder=3)
    ax.axhline(base_mean, color="#555555", linestyle="--", linewidth=1, zorder=2)

    # the scale follows the accepted path; a candidate far off it (a diverged run) would
    # flatten that path to a line, so values beyond three of its spans are drawn at the edge
    core = [base_mean] + [n.mean(metric, seeds) for n in accepted]
    lo, hi = min(core), max(core)
    span = max(hi - lo, abs(hi) * 0.05) or 1.0
    near = core + [v for n in nodes if not n.is_baseline and n.status.final
                   and (v := n.mean(metric, seeds)) is not None and lo - 3 * span <= v <= hi + 3 * span]
    pad = 0.12 * (max(near) - min(near) or span)
    ylo, yhi = min(near) - 2 * pad, max(near) + pad  # room below for the strip of no-value nodes
    strip = ylo + 0.04 * (yhi - ylo)
    counts: dict[str, int] = {}
    for n in nodes:
        if n.is_baseline or not n.status.final or n.decided_at is None:
            continue
        status = n.status.value
        counts[status] = counts.get(status, 0) + 1
        value = n.mean(metric, seeds)
        x = minutes(n.decided_at)
        marker = STATUS_MARKER[status]
        if value is None:
            y = strip
        elif value > yhi or value < ylo:
            y, marker = (yhi, "^") if value > yhi else (ylo, "v")
        else:
            y = value
        ax.scatter([x], [y], s=34, marker=marker, color=STATUS_COLOR[status], zorder=4,
                   edgecolors="white", linewidths=0.6, clip_on=False)
        if n.status is NodeStatus.ACCEPTED:
            ax.annotate(str(n.id), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7,
                        color="#333333")
    ax.set_ylim(ylo, yhi)
    ax.set_xlim(left=min(0.0, xs[0]), right=max(minutes(now), xs[0] + 1e-3) * 1.02 + 0.05)
    handles = [Line2D([], [], color=STATUS_COLOR["accepted"], linewidth=2, label="best accepted"),
               Line2D([], [], color="#555555", linestyle="--", linewidth=1,
                      label=f"baseline {base_mean:.4g}")]
    for status in ("accepted", "rejected", "stopped-early", "failed"):
        if counts.get(status):
            handles.append(Line2D([], [], linestyle="", marker=STATUS_MARKER[status],
                                  color=STATUS_COLOR[status], label=f"{status} ({counts[status]})"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=7,
               frameon=False)
    ax.set_title(f"best {metric} over time: {best:.4g}", fontsize=9, loc="left")
    return fig


# -- curves: a node's streamed curves beside its parent's, seed by seed ------------------------


def curve_key(spec: Any, points: Sequence[dict[str, Any]]) -> str | None:
    """The task's `metric.curve`, or (for a task that names none) the first numeric quantity the
    harness streamed that is not a position (step, progress, tokens, time, learning rate)."""
    if spec.metric.curve:
        return spec.metric.curve
    for p in points:
        for k, v in p.items():
            if k not in _NOT_QUANTITIES and isinstance(v, int | float) and not isinstance(v, bool):
                return k
    return None


def evaluation_curve(run: Run, ev: Evaluation) -> list[dict[str, Any]]:
    """The points of one evaluation: from the database once it ended, from its metrics file
    while it runs (the store records a curve only at the end)."""
    points = run.curve(ev.id)
    if points or ev.status is not EvalStatus.RUNNING:
        return points
    folder = run.path(ev.job_dir)
    return read_metrics(folder / "metrics.jsonl")[0] if folder else []


def curves_figure(run: Run, node_id: int) -> Figure | None:
    spec = run.task.spec
    metric = spec.metric.name
    node = run.node(node_id)
    parent = run.node(node.parent_id) if node.parent_id is not None else None
    mine = {e.seed: e for e in node.evaluations if e.evaluation == metric}
    theirs = {e.seed: e for e in parent.evaluations if e.evaluation == metric} if parent else {}
    # the seeds the parent ran too (a node also runs seeds for its children's tests: those have
    # no pair here); a baseline shows its own
    paired = sorted(s for s in mine if s in theirs) or sorted(mine)
    paired = paired[:len(SEED_COLORS)]
    lines = []  # (seed, is_parent, points)
    for seed in paired:
        lines.append((seed, False, evaluation_curve(run, mine[seed])))
        if seed in theirs:
            lines.append((seed, True, evaluation_curve(run, theirs[seed])))
    lines = [(s, p, pts) for s, p, pts in lines if pts]
    key = curve_key(spec, [pt for _, _, pts in lines for pt in pts[:1]])
    if not lines or key is None:
        return None
    every = [pt for _, _, pts in lines for pt in pts]
    xkey = "progress" if all("progress" in pt for pt in every) else "step"
    fig, ax = _figure()
    drawn = False
    for seed, is_parent, pts in lines:
        xy = [(pt[xkey], pt[key]) for pt in pts if pt.get(xkey) is not None
              and isinstance(pt.get(key), int | float)]
        if not xy:
            continue
        color = SEED_COLORS[paired.index(seed)]
        ax.plot([x for x, _ in xy], [y for _, y in xy], color=color, linewidth=1.4,
                linestyle="--" if is_parent else "-", alpha=0.75 if is_parent else 1.0)
        drawn = True
    if not drawn:
        return None
    ax.set_xlabel("progress (share of the experiment)" if xkey == "progress" else "step")
    ax.set_ylabel(key)
    handles = [Line2D([], [], color="#333333", linewidth=1.4, label=f"node {node.id}")]
    if any(p for _, p, _ in lines):
        handles.append(Line2D([], [], color="#333333", linestyle="--", linewidth=1.4,
                              label=f"parent, node {parent.id}"))
    shown = sorted({s for s, _, _ in lines})
    handles += [Line2D([], [], color=SEED_COLORS[paired.index(s)], linewidth=3, label=f"seed {s}")
                for s in shown]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7, frameon=False)
    ax.set_title(f"{key} while training: node {node.id}"
                 + (f" (solid) vs node {parent.id} (dashed) on the same seeds" if parent else ""),
                 fontsize=9, loc="left")
    return fig


# -- seeds: the node's metric beside its parent's on each seed ---------------------------------


def seeds_figure(run: Run, node_id: int) -> Figure | None:
    spec = run.task.spec
    metric, minimize = spec.metric.name, spec.minimize
    node = run.node(node_id)
    parent: Node | None = run.node(node.parent_id) if node.parent_id is not None else None
    mine = node.values(metric)
    if not mine:
        return None
    theirs = parent.values(metric) if parent else {}
    # a node also runs its children's confirmation seeds: those pair with no value of its parent
    task_seeds = set(spec.seeds.values)
    seeds = sorted(s for s in mine if s in theirs or s in task_seeds) or sorted(mine)
    fig, ax = _figure(width=max(5.0, min(7.2, 1.6 + 0.7 * len(seeds))), height=3.2)
    gains = []
    for i, s in enumerate(seeds):
        if s in theirs:
            gain = (theirs[s] - mine[s]) if minimize else (mine[s] - theirs[s])
            gains.append(gain)
            ax.plot([i, i], [theirs[s], mine[s]], color=BETTER if gain > 0 else WORSE,
                    linewidth=2, zorder=2)
            ax.scatter([i], [theirs[s]], s=36, facecolors="white", edgecolors=PARENT,
                       linewidths=1.4, zorder=3)
        ax.scatter([i], [mine[s]], s=36, color=STATUS_COLOR.get(node.status.value, "#333333"),
                   zorder=4)
    ax.set_xticks(range(len(seeds)), [str(s) for s in seeds], fontsize=7,
                  rotation=30 if max(len(str(s)) for s in seeds) > 4 else 0)
    ax.set_xlim(-0.6, len(seeds) - 0.4)
    ax.set_xlabel("seed")
    ax.set_ylabel(metric)
    handles = [Line2D([], [], linestyle="", marker="o",
                      color=STATUS_COLOR.get(node.status.value, "#333333"),
                      label=f"node {node.id}")]
    if gains:
        handles += [Line2D([], [], linestyle="", marker="o", markerfacecolor="white",
                           color=PARENT, label=f"parent, node {parent.id}"),
                    Line2D([], [], color=BETTER, linewidth=2, label="better"),
                    Line2D([], [], color=WORSE, linewidth=2, label="worse")]
        mean = sum(gains) / len(gains)
        title = f"{metric} per seed: {mean:+.4g} mean paired improvement ({len(gains)} seeds)"
    else:
        title = f"{metric} per seed"
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=7,
               frameon=False)
    ax.set_title(title, fontsize=9, loc="left")
    return fig


def pareto_svg(data: Mapping[str, Any] | None) -> str | None:
    """A scatter of the objective against the first secondary metric: the front joined as a
    step line, dominated nodes grey. None with fewer than two axes or no node."""
    if not data:
        return None
    axes = data["axes"]
    points = data["front"] + data["dominated"]
    if len(axes) < 2 or not points:
        return None
    x_ax, y_ax = axes[1], axes[0]
    fig, ax = _figure(6.0, 3.4)
    on = sorted(data["front"], key=lambda e: e["values"][x_ax["name"]])
    # joined only when these two are all the metrics: a front over more is no curve here
    ax.plot([e["values"][x_ax["name"]] for e in on], [e["values"][y_ax["name"]] for e in on],
            color=BETTER, marker="o", linestyle="-" if len(axes) == 2 else "none",
            label="front")
    off = data["dominated"]
    if off:
        ax.scatter([e["values"][x_ax["name"]] for e in off],
                   [e["values"][y_ax["name"]] for e in off], color=PARENT, label="dominated")
    for e in points:  # nodes by id only: idea text is untrusted (see this module's first lines)
        ax.annotate(str(int(e["node"])), (e["values"][x_ax["name"]], e["values"][y_ax["name"]]),
                    textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(axis_label(x_ax).replace(" (objective)", ""))
    ax.set_ylabel(axis_label(y_ax).replace(" (objective)", ""))
    ax.legend(loc="best", fontsize=8, frameon=False)
    return svg(fig)
