"""Terminal views of a run: `recursor status` and `recursor show`."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

import recursor
from recursor.executor.job import read_metrics, tail
from recursor.loop.progress import curve_key
from recursor.report.render import STATUS_STYLE, WHY_STYLE, headline
from recursor.store import EvalStatus, Evaluation


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


def status_view(run_dir: Path) -> RenderableType:
    run = recursor.open_run(run_dir)
    report = run.report()
    config = run.config
    parts: list[RenderableType] = [Text(line) for line in headline(report)]
    budget = []
    if config.experiments is not None:
        budget.append(f"{report['counts']['experiments']}/{config.experiments} experiments")
    if config.minutes is not None:
        budget.append(f"{report['wall_seconds'] / 60:.1f}/{config.minutes:g} minutes")
    parts.append(Text(f"budget: {', '.join(budget)} · policy {config.policy}"))

    running = [(n, e) for n in run.nodes() for e in n.evaluations
               if e.status is EvalStatus.RUNNING]
    if running and report["status"] == "running":
        table = Table(title="running", header_style="dim", box=None)
        key = curve_key(run.task.spec)
        for col in ("node", "idea", "seed", "for", "step", key.replace("_", " ")):
            table.add_column(col)
        for node, ev in running:
            curve, _, _ = read_metrics(run.path(ev.job_dir) / "metrics.jsonl")
            point = curve[-1] if curve else {}
            loss = point.get(key)
            table.add_row(str(node.id), node.title[:50], str(ev.seed),
                          _clock(time.time() - ev.started_at), str(point.get("step", "")),
                          f"{loss:.4f}" if isinstance(loss, (int, float)) else "")
        parts.append(table)
    events = run.events(limit=8)
    if events:
        parts.append(Text("recent:", style="dim"))
        for e in events:
            stamp = time.strftime("%H:%M:%S", time.localtime(e["at"]))
            parts.append(Text(f"  {stamp} {e['message']}", overflow="ellipsis", no_wrap=True))
    return Group(*parts)


def node_view(run_dir: Path, node_id: int, lines: int = 20) -> RenderableType:
    run = recursor.open_run(run_dir)
    node = run.node(node_id)
    metric = run.task.spec.metric.name
    parent = run.node(node.parent_id) if node.parent_id is not None else None
    style = STATUS_STYLE.get(node.status.value, "")
    head = Text.assemble((f"node {node.id}: {node.title}  ", "bold"), (node.status.value, style))
    parts: list[RenderableType] = [head]
    if node.idea:
        idea = node.idea
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="dim")
        facts.add_column()
        facts.add_row("parent", f"node {node.parent_id}" + (f" ({parent.title})" if parent else ""))
        facts.add_row("proposer", f"{idea.proposer}" + (f" — {idea.reason}" if idea.reason else ""))
        facts.add_row("category", idea.category)
        for label, text in (("hypothesis", idea.hypothesis), ("rationale", idea.rationale),
                            ("source", idea.source)):
            facts.add_row(label, " ".join(text.split()))  # TOML line breaks are not paragraphs
        parts.append(facts)
    # the same label and effect as the run's tables (recursor.report.rows), then the record
    row = next(r for r in run.rows() if r.id == node.id)
    if node.status.final:
        decision = Text.assemble(("decision: ", "bold"),
                                 (row.why.label, WHY_STYLE.get(row.why.kind, "")))
        if row.effect is not None:
            decision.append(f" · {row.effect.text}")
        if row.vs_baseline_pct is not None:
            decision.append(f" · {row.vs_baseline_pct:+.2f}% vs baseline")
        if row.why.detail:
            decision.append(f"\n  {row.why.detail}")
        parts.append(decision)
    if node.reason and node.reason != row.why.detail:
        parts.append(Text.assemble(("recorded: ", "dim"), node.reason))

    table = Table(title=f"per-seed {metric}", header_style="bold")
    for col in ("eval", "evaluation", "seed", "status", "value", "parent", "improvement",
                "seconds", "note"):
        table.add_column(col, overflow="fold")
    minimize = run.task.spec.minimize
    for e in node.evaluations:
        pv = parent.values(e.evaluation).get(e.seed) if parent else None
        gain = ""
        if e.value is not None and pv is not None:
            gain = f"{(pv - e.value) if minimize else (e.value - pv):+.4f}"
        table.add_row(str(e.id), e.evaluation, str(e.seed), e.status.value,
                      f"{e.value:.4f}" if e.value is not None else "–",
                      f"{pv:.4f}" if pv is not None else "", gain,
                      f"{e.seconds:.0f}" if e.seconds else "", _note(e))
    parts.append(table)
    if node.findings:
        found = Table(title="auditor findings", header_style="bold")
        for col in ("check", "kind", "seed", "finding", "evidence"):
            found.add_column(col, overflow="fold")
        for f in node.findings:
            found.add_row(f.check, "[red]blocking[/]" if f.blocking else "warning",
                          "" if f.seed is None else str(f.seed), f.message, f.evidence)
        parts.append(found)

    diff = run.path(node.diff_path)
    if diff and diff.exists():
        applied = "; ".join(applied_line(a) for a in node.applied)
        parts.append(Panel(Syntax(diff.read_text(), "diff", word_wrap=True),
                           title="diff" + (f" — patch applied by: {applied}" if applied else "")))
    elif node.patch_path and run.path(node.patch_path).exists():
        parts.append(Panel(Syntax(run.path(node.patch_path).read_text(), "text", word_wrap=True),
                           title="patch (did not apply)"))

    chosen = next((e for e in reversed(node.evaluations) if e.status is EvalStatus.FAILED),
                  node.evaluations[-1] if node.evaluations else None)
    if chosen is not None:
        folder = run.path(chosen.job_dir)
        for name in ("program.log", "harness.log"):
            text = tail(folder / name, lines)
            if text.strip():
                parts.append(Panel(Text(text), title=f"{name} (seed {chosen.seed}, last {lines} "
                                                     f"lines): {folder / name}"))
    return Group(*parts)


def _note(e: Evaluation) -> str:
    """An evaluation's reason, and whether its result was replayed from a result cache (its
    seconds are then those of the run that made it)."""
    notes = ["from cache"] if isinstance(e.metrics.get("replayed"), dict) else []
    return "; ".join(notes + ([e.reason] if e.reason else []))


def applied_line(a: dict) -> str:
    """'block 1 (train.py): comments, line 38': how the applier placed one block."""
    first, last = a["lines"]
    where = f"line {first}" if first == last else f"lines {first}-{last}"
    score = f", {a['score']:.0f}% similar" if a["rule"] == "fuzzy" else ""
    return f"block {a['block']} ({a['path']}): {a['rule']}, {where}{score}"


def verdict_view(v: dict) -> RenderableType:
    """The answer of `recursor try` for one patch, in words."""
    style = STATUS_STYLE.get(v["status"], "")
    parts: list[RenderableType] = [Text.assemble((f"{v['title']}: ", "bold"),
                                                 (v["status"], style))]
    if v["mean"] is not None and v["baseline_mean"] is not None:
        pct = v["improvement_pct"]
        parts.append(Text(f"mean {v['mean']:.4f} vs baseline {v['baseline_mean']:.4f}"
                          + (f" ({pct:+.2f}%)" if pct is not None else "")
                          + f" on seeds {v['seeds']}"))
    if v.get("ci95"):
        lo, hi = v["ci95"]
        parts.append(Text(f"effect {v['effect']:+.4g}, 95% CI [{lo:+.4g}, {hi:+.4g}], "
                          f"p={v['p_value']:.3g}"))
    for reason in v["reasons"]:
        parts.append(Text(f"  - {reason}"))
    for f in v["audit"]:
        kind = "blocking" if f["blocking"] else "warning"
        parts.append(Text(f"  audit {f['check']} ({kind}): {f['message']}", style="dim"))
    return Group(*parts)
