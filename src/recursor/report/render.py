"""The report drawn for people: a terminal table (rich) and a Markdown page."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from recursor.loop.final import describe as describe_final
from recursor.report import pareto
from recursor.report.rows import metric_text

STATUS_STYLE = {"accepted": "green", "rejected": "yellow", "failed": "red",
                "stopped-early": "magenta", "running": "cyan"}


def _fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:+.2f}%"


def sandbox_warning(sandbox: dict[str, Any] | None) -> str | None:
    """The line a report made under a weaker sandbox than bwrap opens with."""
    if not sandbox or sandbox.get("kind") == "bwrap":
        return None
    kind = sandbox.get("kind", "unknown")
    return (f"WEAKER SANDBOX ({kind}): the programs of this run could read and write more than "
            "their own folder, so the auditor's file and state checks did not all hold: "
            f"{sandbox.get('describe', '')}")


def headline(report: dict[str, Any]) -> list[str]:
    m = report["metric"]
    warning = sandbox_warning(report.get("sandbox"))
    lines = [warning] if warning else []
    lines += [f"task {report['task']} · {report['status']}"
             + (f" ({report['end_reason']})" if report.get("end_reason") else "")
             + f" · {report['wall_seconds'] / 60:.1f} min"]
    base, best = report["baseline"], report["best"]
    if base and base["mean"] is not None:
        std = f" ± {base['std']:.4f}" if base["std"] is not None else ""
        lines.append(f"baseline (node {base['node']}): {m['name']} {base['mean']:.4f}{std} "
                     f"over {base['n']} seeds")
    if best and base and best["node"] != base["node"]:
        ci = best.get("ci95")
        ci_text = f", 95% CI [{ci[0]:+.2f}%, {ci[1]:+.2f}%]" if ci else ""
        lines.append(f"best (node {best['node']}): {m['name']} {best['mean']:.4f} · "
                     f"{best['improvement_pct']:+.2f}% vs baseline{ci_text} · "
                     f"path {' → '.join(str(i) for i in best['lineage'])}")
    elif base:
        lines.append("no candidate was proven better than the baseline")
    lines += _yield_line(report)
    lines += [describe_final(v) for v in report.get("final") or ()]
    c = report["counts"]
    lines.append(f"{c['experiments']} experiments: {c['accepted']} accepted, {c['rejected']} "
                 f"rejected, {c['failed']} failed, {c['stopped_early']} stopped early"
                 + (f", {c['running']} running" if c.get("running") else ""))
    if report.get("false_accept_bound") is not None and c["experiments"]:
        lines.append(f"expected false accepts at most {report['false_accept_bound']:g} "
                     "(alpha x confirmation tests)")
    if report.get("sandbox"):
        lines.append(f"sandbox: {report['sandbox']['describe']}")
    proposers = report.get("proposers") or {}
    if len(proposers) > 1 or any(p["calls"] for p in proposers.values()):
        parts = []
        for name, p in proposers.items():
            cost = f", ${p['cost']:.4f}" if p["calls"] else ""
            each = (f" (${p['cost_per_accepted']:.4f} per accepted)"
                    if p.get("cost_per_accepted") is not None and p["calls"] else "")
            calls = (f", {p['calls']} calls" + (f" ({p['repeats']} repeats)"
                                                 if p.get("repeats") else "")
                     if p["calls"] else "")
            parts.append(f"{name}: {p['accepted']}/{p['tried']} accepted{calls}{cost}{each}")
        lines.append("proposers: " + "; ".join(parts))
    lines += _value_lines(report)
    d = report.get("diversity")
    if d and c["experiments"]:
        lines.append(f"diversity: {len(d['categories_tried'])} idea categories tried, "
                     f"{len(d['categories_accepted'])} accepted, on {d['branches']} branch(es)")
    return lines


def _yield_line(report: dict[str, Any]) -> list[str]:
    """The run's anytime research yield (recursor.report.anytime), in its own words."""
    if "anytime_yield" not in report:  # a report dict made without the read model
        return []
    found = report["anytime_yield"]
    if found is None:
        return [f"anytime yield: not measured yet (the baseline has no finished "
                f"{report['metric']['name']} run to count compute in)"]
    return [found["text"]]


def _value_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    v = report.get("value") or {}
    if v.get("enabled"):
        text = (f"value function: {v['stopped']} node(s) stopped early "
                f"({v.get('stopped_futile', 0)} in confirmation, their test forecast to fail), "
                f"{v['audited']} would-be stop(s) audited to the end")
        if v["audited"]:
            text += (f" ({v['audited_better']} would have been wrong, "
                     f"{v['audited_accepted']} accepted: false-stop rate "
                     f"{v['false_stop_rate']:.0%})")
        if v.get("coverage90") is not None:
            text += (f"; forecasts checked {v['checked_forecasts']}: mean error "
                     f"{v['mean_abs_error']:.4g}, 90% interval held {v['coverage90']:.0%}")
        if v.get("confirm_coverage90") is not None:
            text += (f"; confirmation forecasts {v['checked_confirm_forecasts']}: mean error "
                     f"{v['confirm_mean_abs_error']:.4g}, 90% interval held "
                     f"{v['confirm_coverage90']:.0%}")
        if v.get("risk_last") is not None and v["risk_last"] < v["risk"]:
            text += f"; stop level tightened to {v['risk_last']:g}"
        if v.get("test_risk_last") is not None and v["test_risk_last"] < v.get("test_risk", 1):
            text += f"; test stop level tightened to {v['test_risk_last']:g}"
        lines.append(text)
    elif v:
        lines.append(f"value function: {v['why']}")
    d = report.get("discoveries") or {}
    if d.get("enabled") and d["tried"]:
        steps = ", ".join(f"node {x['node']} ({x['discovery'][:10]})"
                          for x in d["accepted_from_library"]) or "none"
        lines.append(f"discovery library: {d['tried']} past discoveries tried, accepted again: "
                     f"{steps}")
    e = report.get("engine") or {}
    if e.get("overhead_fraction") is not None:
        lines.append(f"engine: {e['experiments_finished']} experiments in "
                     f"{e['wall_seconds'] / 60:.1f} min ({e['decided_per_hour']:.1f} nodes "
                     f"decided per hour); overhead {e['overhead_fraction']:.1%} of worker time"
                     + (f"; idle waiting for proposals {e['waiting_fraction']:.1%} of worker time"
                        if e.get("waiting_fraction") is not None else ""))
    return lines


def _heldout(n: dict[str, Any]) -> str:
    parts = []
    for _name, h in (n.get("heldout") or {}).items():
        gain = f" ({h['gain_pct']:+.2f}%)" if h.get("gain_pct") is not None else ""
        parts.append(f"{h['mean']:.4f}{gain}")
    mark = " ⚑" if any(f.startswith("held-out.") for f in n.get("flagged", ())) else ""
    return ", ".join(parts) + mark


WHY_STYLE = {"accepted": "green", "not-better": "yellow", "stopped-early": "magenta",
             "auditor": "bold red", "failed": "red", "running": "cyan", "baseline": "dim",
             "duplicate": "dim", "not-tested": "yellow", "rejected": "yellow",
             "constraint": "yellow"}
LEGEND = ("vs parent: the effect against the node's parent (+ = better), the mean paired "
          "difference on the seed pairs named; \"screen only, 1 seed\" was never confirmed. "
          "vs baseline: an accepted node's mean on the task's seeds against the baseline's.")


def vs_parent(n: dict[str, Any]) -> str:
    """The node's effect against its parent as the tables print it (recursor.report.rows)."""
    return (n.get("vs_parent") or {}).get("text", "")


def ci_text(n: dict[str, Any]) -> str:
    return (n.get("vs_parent") or {}).get("ci_text", "")


def why(n: dict[str, Any]) -> dict[str, str]:
    return n.get("why") or {"kind": "rejected", "label": n["status"], "detail": n.get("reason") or ""}


def metric_cell(report: dict[str, Any], n: dict[str, Any]) -> str:
    return metric_text(n["mean"], len(n["seeds"]), len(report["seeds"]))


def finding_kind(n: dict[str, Any], f: dict[str, Any]) -> str:
    """A blocking finding on a node the judge had rejected anyway decided nothing: said so."""
    if not f["blocking"]:
        return "warning"
    if why(n)["kind"] == "not-better":
        return "would block (the node was not better anyway)"
    return "blocking"


def text_report(report: dict[str, Any]) -> Group:
    """The headline, then one row per node. The why column is coloured by the node's status
    and names it, so the status has no column of its own: the table fits a terminal."""
    held = any(n.get("heldout") for n in report["nodes"])
    table = Table(header_style="bold", show_lines=False)
    for col, just, wrap in (("node", "right", True), ("parent", "right", True),
                            ("idea", "left", True), (report["metric"]["name"], "right", True),
                            ("vs parent", "left", False), ("95% CI", "left", False),
                            ("vs baseline", "right", False),
                            *((("held-out (gain)", "right", True),) if held else ()),
                            ("why", "left", True)):
        table.add_column(col, justify=just, overflow="fold", no_wrap=not wrap)
    for n in report["nodes"]:
        w = why(n)
        cell = Text(w["label"], style=WHY_STYLE.get(w["kind"], ""))
        if w["label"] == "failed: crashed" and w["detail"]:  # what broke is what one reads
            cell.append(" — " + _cut(w["detail"], 70), style="dim")
        accepted = n["status"] == "accepted"
        table.add_row(str(n["id"]), "" if n["parent"] is None else str(n["parent"]),
                      n["title"], Text(metric_cell(report, n), style="" if accepted else "dim"),
                      vs_parent(n), ci_text(n), _pct(n.get("vs_baseline_pct")),
                      *((_heldout(n),) if held else ()), cell)
    return Group(*[Text(line) for line in headline(report)], table, Text(LEGEND, style="dim"),
                 *pareto.renderables(report))


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _md(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_report(report: dict[str, Any]) -> str:
    m = report["metric"]
    out = [f"# recursor run: {report['task']}", ""]
    out += [f"- {line}" for line in headline(report)]
    out += ["", f"Metric: `{m['name']}` ({m['direction']}"
            + (f", {m['unit']}" if m.get("unit") else "") + "). Seeds: "
            + ", ".join(str(s) for s in report["seeds"]) + ".", "", LEGEND, ""]
    out += ["| node | parent | idea | by | status | mean | vs parent | 95% CI | vs baseline | "
            "held-out (gain) | per-seed | p | why | patch |",
            "| ---: | ---: | --- | --- | --- | ---: | --- | --- | ---: | ---: | --- | ---: | --- "
            "| --- |"]
    for n in report["nodes"]:
        v = n["verdict"] or {}
        p = f"{v['p_value']:.3g}" if v.get("p_value") is not None else ""
        seeds = ", ".join(f"{x:.4f}" for x in n["seeds"])
        patch = f"[diff]({n['diff']})" if n.get("diff") else ""
        w = why(n)
        out.append(f"| {n['id']} | {'' if n['parent'] is None else n['parent']} | "
                   f"{_md(n['title'])} | {n['proposer']} | {n['status']} | "
                   f"{metric_cell(report, n)} | {vs_parent(n)} | {ci_text(n)} | "
                   f"{_pct(n.get('vs_baseline_pct'))} | {_heldout(n)} | {seeds} | {p} | "
                   f"**{_md(w['label'])}** | {patch} |")
    out += pareto.markdown(report)
    out += ["", "## Decisions", ""]
    for n in report["nodes"]:
        w = why(n)
        if n["status"] != "running":
            detail = f": {_md(w['detail'])}" if w["detail"] else ""
            out.append(f"- node {n['id']} ({_md(n['title'])}): **{_md(w['label'])}**{detail}")
    found = [(n, f) for n in report["nodes"] for f in n.get("audit", ())]
    if found:
        out += ["", "## Auditor findings", ""]
        for n, f in found:
            out.append(f"- node {n['id']} ({n['title']}): `{f['check']}` ({finding_kind(n, f)}) — "
                       f"{f['message']} Evidence: {f['evidence']}")
    return "\n".join(out) + "\n"
