"""`recursor export RUN`: an invention report for every accepted step, ready to publish.

    OUT/
      README.md                     the run in one page: the path from baseline to best, one
                                    line per step, with links
      01-<slug>/README.md           the step: idea, hypothesis, rationale, where it came from,
                                    the evidence (per-seed table, the paired test, held-out
                                    results, the auditor's findings), the plots and the diff
      01-<slug>/step.patch          the change against its parent (`git apply` in the parent)
      01-<slug>/from-baseline.patch the accepted program against the task's baseline: applies to
                                    the task's own files with `git apply` or `patch -p1`
      01-<slug>/curves.svg, seeds.svg

Everything in a report is read from the run's database and files; nothing is re-measured.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from recursor.patch.diff import unified_diff
from recursor.report.run import Run, open_run
from recursor.store import ConfirmVerdict, Node, NodeStatus


def export(run: Run | Path | str, out: Path | str | None = None) -> list[Path]:
    """Write the invention reports of a run's accepted steps under `out` (default RUN/export);
    the folders written, one per step, in the order they were accepted."""
    run = run if isinstance(run, Run) else open_run(run)
    out = Path(out) if out is not None else run.run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    spec = run.task.spec
    metric, seeds = spec.metric.name, list(spec.seeds.values)
    nodes = {n.id: n for n in run.nodes()}
    baseline = next(n for n in nodes.values() if n.is_baseline)
    base_files = run.files(baseline.id)
    steps = sorted((n for n in nodes.values() if n.status is NodeStatus.ACCEPTED
                    and not n.is_baseline), key=lambda n: (n.decided_at or 0, n.id))
    written, index = [], []
    for i, node in enumerate(steps, start=1):
        folder = out / f"{i:02d}-{_slug(node.title)}"
        folder.mkdir(exist_ok=True)
        parent = nodes[node.parent_id]
        files = run.files(node.id)
        step = unified_diff(run.files(parent.id), files)
        (folder / "step.patch").write_text(step)
        (folder / "from-baseline.patch").write_text(unified_diff(base_files, files))
        plots = _plots(run, node, folder)
        (folder / "README.md").write_text(_page(run, node, parent, metric, seeds, plots, step))
        written.append(folder)
        test = _test(node)
        index.append(f"| {i} | [{_cell(node.title)}]({folder.name}/README.md) | {node.id} | "
                     f"{parent.id} | {_num(test.effect if test else None)} | "
                     f"{_num(node.mean(metric, seeds))} |")
    (out / "README.md").write_text(_index(run, baseline, metric, seeds, index))
    return written


def _plots(run: Run, node: Node, folder: Path) -> list[str]:
    from recursor.report import plots  # matplotlib loads only when a run has steps to draw

    names = []
    for name, draw in (("curves.svg", plots.curves_svg), ("seeds.svg", plots.seeds_svg)):
        svg = draw(run, node.id)
        if svg:
            (folder / name).write_text(svg)
            names.append(name)
    return names


def _index(run: Run, baseline: Node, metric: str, seeds: list[int], rows: list[str]) -> str:
    report = run.report()
    best = report.get("best") or {}
    lines = [f"# {report['task']}: {len(rows)} accepted step(s)", "",
             f"Run `{run.run_dir}`; {metric} ({report['metric']['direction']}), baseline "
             f"{_num(baseline.mean(metric, seeds))} over seeds {seeds}."]
    if best and best.get("node") != baseline.id:
        lines.append(f"Best: node {best['node']}, {_num(best['mean'])} "
                     f"({best['improvement_pct']:+.2f}% vs the baseline).")
    lines += ["", f"| step | idea | node | parent | effect on its parent ({metric}) | mean |",
              "| ---: | --- | ---: | ---: | ---: | ---: |", *rows, "",
              "Each step's `from-baseline.patch` applies to the task's baseline program "
              "(`git apply` or `patch -p1` in a copy of the task folder)."]
    return "\n".join(lines) + "\n"


def _page(run: Run, node: Node, parent: Node, metric: str, seeds: list[int], plots: list[str],
          diff: str) -> str:
    idea, test = node.idea, _test(node)
    mine, theirs = node.values(metric), parent.values(metric)
    lines = [f"# {node.title}", "",
             f"Task `{run.task.name}`, run `{run.run_dir}`, node {node.id} on node {parent.id}; "
             f"proposed by {idea.proposer if idea else '?'}"
             + (f" ({idea.reason})" if idea and idea.reason else "") + "."]
    for label, text in (("Hypothesis", idea.hypothesis if idea else ""),
                        ("Rationale", idea.rationale if idea else ""),
                        ("Source", idea.source if idea else "")):
        if text:
            lines += ["", f"**{label}.** {text.strip()}"]
    lines += ["", "## Evidence", "",
              f"The judge's verdict: {node.reason or ''}", "",
              f"| seed | {metric} (this step) | {metric} (parent) | difference |",
              "| ---: | ---: | ---: | ---: |"]
    for s in sorted(set(mine) & set(theirs)):
        kind = "" if s in seeds else " (fresh)"
        lines.append(f"| {s}{kind} | {mine[s]:.4f} | {theirs[s]:.4f} | {mine[s] - theirs[s]:+.4f} |")
    if test is not None and test.effect is not None:
        ci = test.ci95 or (None, None)
        lines += ["", f"Paired test on the fresh seeds: effect {test.effect:+.4g} {metric} "
                      f"better, 95% CI [{_num(ci[0])}, {_num(ci[1])}], p = {test.p_value:.3g} "
                      f"(level {test.alpha})."]
    held = _held_out(node, parent, metric)
    if held:
        lines += ["", "Held-out evaluations (not used to decide):", "",
                  "| evaluation | this step | parent |", "| --- | ---: | ---: |", *held]
    if node.findings:
        lines += ["", "Auditor's findings:", ""]
        lines += [f"- {'BLOCKING ' if f.blocking else ''}`{f.check}`: {f.message}"
                  for f in node.findings]
    else:
        lines += ["", "The auditor found nothing to flag."]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    lines += ["", "## The change", "", "```diff", diff.rstrip("\n"), "```", "",
              "`step.patch` is this change; `from-baseline.patch` takes the task's baseline to "
              "this step's program."]
    return "\n".join(lines) + "\n"


def _test(node: Node) -> ConfirmVerdict | None:
    return node.verdict if isinstance(node.verdict, ConfirmVerdict) else None


def _held_out(node: Node, parent: Node, metric: str) -> list[str]:
    rows = []
    names = sorted({e.evaluation for e in node.evaluations if e.evaluation != metric})
    for name in names:
        mine, theirs = node.values(name), parent.values(name)
        if mine:
            rows.append(f"| {name} | {_mean(mine)} | {_mean(theirs)} |")
    return rows


def _mean(values: dict[int, float]) -> str:
    return _num(sum(values.values()) / len(values)) if values else "–"


def _num(x: Any) -> str:
    return "–" if x is None else f"{x:.4f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:48] or "step"
