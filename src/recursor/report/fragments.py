"""Pieces of HTML drawn from the report's data: tables, the lineage tree, a diff, a log.

Shared by the static HTML report (recursor.report.html) and the dashboard (recursor.ui). Every
value that comes from a run is escaped here: idea text, reasons, diffs and logs were written by
proposers and programs, and are untrusted. `link(node_id)` gives a node's href (or None: no
link); `node_id` values are ints, so they are safe in an href.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from typing import Any

from recursor.report.render import (
    LEGEND,
    _value_lines,
    ci_text,
    finding_kind,
    headline,
    metric_cell,
    vs_parent,
    why,
)
from recursor.store.verdicts import BaselineVerdict, ConfirmVerdict, StoppedEarlyVerdict, Verdict

Link = Callable[[int], str | None]
# node statuses, then a run's (recursor.report.summary.run_status)
STATUSES = ("accepted", "rejected", "stopped-early", "failed", "running", "finished", "interrupted")


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def num(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def signed(x: float | None, digits: int = 4) -> str:
    return "" if x is None else f"{x:+.{digits}g}"


def pct(x: float | None) -> str:
    return "" if x is None else f"{x:+.2f}%"


def badge(status: str) -> str:
    cls = status if status in STATUSES else "other"
    return f'<span class="status s-{cls}">{esc(status)}</span>'


def node_ref(node_id: int | None, link: Link, text: str | None = None) -> str:
    if node_id is None:
        return ""
    label = esc(text if text is not None else node_id)
    href = link(int(node_id))
    return f'<a href="{esc(href)}">{label}</a>' if href else label


def table(head: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """A table of already-escaped cells; a header starting with '>' is right-aligned."""
    head = list(head)
    right = [h.startswith(">") for h in head]
    out = [f'<table class="{cls}"><thead><tr>']
    out += [f'<th class="{"num" if r else ""}">{esc(h.lstrip(">"))}</th>'
            for h, r in zip(head, right, strict=True)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = [f'<td class="{"num" if r else ""}">{c}</td>' for c, r in zip(row, right, strict=True)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


# -- the run -------------------------------------------------------------------------------


def facts(report: dict[str, Any]) -> str:
    """The headline lines of `recursor report`, as a list (value function and engine included)."""
    return '<ul class="facts">' + "".join(f"<li>{esc(line)}</li>" for line in headline(report)) + "</ul>"


def counts_table(report: dict[str, Any]) -> str:
    c = report["counts"]
    head = [">experiments", ">accepted", ">rejected", ">failed", ">stopped early", ">running"]
    return table(head, [[str(c.get(k, 0)) for k in ("experiments", "accepted", "rejected", "failed",
                                                    "stopped_early", "running")]], "counts")


def best_table(report: dict[str, Any], link: Link) -> str:
    m = report["metric"]["name"]
    rows = []
    base, best = report.get("baseline"), report.get("best")
    if base:
        rows.append(["baseline", node_ref(base["node"], link), num(base["mean"]), num(base["std"]),
                     str(base["n"]), "", ""])
    path = ""
    if best and base and best["node"] != base["node"]:
        ci = best.get("ci95")
        rows.append(["best", node_ref(best["node"], link), num(best["mean"]), num(best["std"]),
                     str(best["n"]), pct(best.get("improvement_pct")),
                     f"[{ci[0]:+.2f}%, {ci[1]:+.2f}%]" if ci else ""])
        path = ('<p class="path">path to the best: '
                + " → ".join(node_ref(i, link) for i in best.get("lineage", [])) + "</p>")
    return table(["", "node", f">{m} mean", ">std", ">seeds", ">vs baseline", "95% CI"],
                 rows, "best") + path


def value_lines(report: dict[str, Any]) -> str:
    lines = _value_lines(report)
    return '<ul class="facts">' + "".join(f"<li>{esc(x)}</li>" for x in lines) + "</ul>" if lines else ""


def proposers_table(report: dict[str, Any]) -> str:
    rows = []
    for name, p in (report.get("proposers") or {}).items():
        each = p.get("cost_per_accepted")
        rows.append([esc(name), str(p["tried"]), str(p["accepted"]), str(p["calls"]),
                     str(p["tokens"]), f"${p['cost']:.4f}" if p["calls"] else "",
                     f"${each:.4f}" if each is not None and p["calls"] else ""])
    return table(["proposer", ">tried", ">accepted", ">model calls", ">tokens", ">cost",
                  ">per accepted"], rows, "proposers") if rows else ""


def _heldout(n: dict[str, Any]) -> str:
    parts = []
    for name, h in (n.get("heldout") or {}).items():
        gain = f" ({h['gain_pct']:+.2f}%)" if h.get("gain_pct") is not None else ""
        parts.append(f'<span title="{esc(name)}">{h["mean"]:.4f}{gain}</span>')
    flag = any(f.startswith("held-out.") for f in n.get("flagged", ()))
    return ", ".join(parts) + (' <span class="flag" title="wins in public, loses held out">⚑</span>'
                               if flag else "")


def why_cell(n: dict[str, Any]) -> str:
    """Why a node ended: the label the other views print, then the sentence behind it."""
    w = why(n)
    detail = f' <span class="why">{esc(w["detail"])}</span>' if w["detail"] else ""
    return f'<span class="w-{esc(w["kind"])}">{esc(w["label"])}</span>{detail}'


def nodes_table(report: dict[str, Any], link: Link) -> str:
    m = report["metric"]["name"]
    rows = []
    for n in report["nodes"]:
        v = n.get("verdict") or {}
        p = f"{v['p_value']:.3g}" if v.get("p_value") is not None else ""
        seeds = ", ".join(f"{x:.4f}" for x in n["seeds"])
        # the auditor's mark only where it decided: a null result it also flagged is not one
        flagged = "".join(f' <span class="flag" title="{esc(f)}">⚑</span>'
                          for f in n.get("flagged", ())
                          if not f.startswith("held-out.") and why(n)["kind"] == "auditor")
        rows.append([node_ref(n["id"], link), node_ref(n["parent"], link),
                     node_ref(n["id"], link, n["title"]) + flagged, esc(n["proposer"]),
                     badge(n["status"]), esc(metric_cell(report, n)),
                     f'<span class="effect">{esc(vs_parent(n))}</span>', esc(ci_text(n)),
                     pct(n.get("vs_baseline_pct")), _heldout(n), seeds, p, why_cell(n)])
    return (table([">node", ">parent", "idea", "by", "status", f">{m}", "vs parent", "95% CI",
                   ">vs baseline", ">held-out (gain)", "per seed", ">p", "why"], rows, "nodes")
            + f'<p class="muted legend">{esc(LEGEND)}</p>')


def tree(report: dict[str, Any], link: Link) -> str:
    """The lineage tree as nested lists: each node's status, its effect against its parent and
    why it ended (the accepted ones: their gain over the baseline), children below it."""
    children: dict[int | None, list[dict[str, Any]]] = {}
    for n in report["nodes"]:
        children.setdefault(n["parent"], []).append(n)
    ids = {n["id"] for n in report["nodes"]}
    # a node whose parent is missing (a database cut short) still shows, at the top
    roots = [n for n in report["nodes"] if n["parent"] is None or n["parent"] not in ids]

    def item(n: dict[str, Any]) -> str:
        notes = ""
        if n["parent"] is None and n["mean"] is not None:
            notes += f' <span class="mean">{num(n["mean"])}</span>'
        if vs_parent(n):
            notes += f' <span class="effect">{esc(vs_parent(n))}</span>'
        if n.get("vs_baseline_pct") is not None:
            notes += f' <span class="gain">{pct(n["vs_baseline_pct"])} vs baseline</span>'
        w = why(n)
        if w["kind"] not in ("accepted", "baseline", "running"):
            notes += f' <span class="why w-{esc(w["kind"])}">{esc(w["label"])}</span>'
        kids = children.get(n["id"], [])
        sub = "<ul>" + "".join(item(k) for k in kids) + "</ul>" if kids else ""
        return (f'<li data-node="{n["id"]}" data-status="{esc(n["status"])}">'
                f'{node_ref(n["id"], link, str(n["id"]))} {badge(n["status"])} '
                f'{node_ref(n["id"], link, n["title"])}{notes}{sub}</li>')

    return '<ul class="tree">' + "".join(item(r) for r in roots) + "</ul>"


def findings_table(report: dict[str, Any], link: Link) -> str:
    rows = []
    for n in report["nodes"]:
        for f in n.get("audit", ()):
            kind = finding_kind(n, f)
            rows.append([node_ref(n["id"], link), node_ref(n["id"], link, n["title"]),
                         esc(f["check"]),
                         '<span class="blocking">blocking</span>' if kind == "blocking"
                         else esc(kind),
                         esc("" if f.get("seed") is None else f["seed"]), esc(f["message"]),
                         f'<code class="evidence">{esc(f.get("evidence") or "")}</code>'])
    return table([">node", "idea", "check", "kind", ">seed", "finding", "evidence"], rows,
                 "findings") if rows else '<p class="muted">The auditor found nothing.</p>'


# -- one node --------------------------------------------------------------------------------


def idea_table(idea: Any, reason_chosen: bool = True) -> str:
    """An idea's fields (title, hypothesis, rationale, source, category, proposer)."""
    if idea is None:
        return '<p class="muted">The baseline: the task\'s program as given.</p>'
    rows = []
    for label, value in (("title", idea.title), ("hypothesis", idea.hypothesis),
                         ("rationale", idea.rationale), ("source", idea.source),
                         ("category", idea.category), ("proposer", idea.proposer),
                         ("library key", idea.key),
                         ("why this parent", idea.reason if reason_chosen else "")):
        if value:
            rows.append(f"<tr><th>{esc(label)}</th><td>{esc(' '.join(str(value).split()))}</td></tr>")
    return '<table class="kv idea">' + "".join(rows) + "</table>"


def verdict_table(verdict: Verdict | None, metric: str, link: Link) -> str:
    """The judge's verdict (or the value function's stop) in words and numbers."""
    if verdict is None:
        return '<p class="muted">No verdict recorded.</p>'
    rows: list[tuple[str, str]] = [("stage", esc(verdict.stage))]
    if isinstance(verdict, BaselineVerdict):
        rows.append(("noise floor", f"{verdict.mean:.4f} ± {verdict.std or 0:.4f} over "
                                    f"{verdict.n} seeds"))
        if verdict.noise_std is not None:  # not named on the page: shown as they are stored
            rows += [_raw("noise_std", verdict.noise_std), _raw("noise_n", verdict.noise_n)]
    elif isinstance(verdict, StoppedEarlyVerdict):
        rows += _stop_rows(verdict, metric, link)
    else:
        rows.append(("against", "node " + node_ref(verdict.parent, link)))
        rows.append(("screen", f"{signed(verdict.screen_gain)} {esc(metric)} on the first seed "
                               "(+ = better)"))
        if isinstance(verdict, ConfirmVerdict):
            rows += _test_rows(verdict, metric)
    return '<table class="kv verdict">' + "".join(
        f"<tr><th>{esc(k)}</th><td>{val}</td></tr>" for k, val in rows) + "</table>"


def _raw(key: str, value: Any) -> tuple[str, str]:
    """A verdict's number the page has no words for, under its stored name."""
    return key, esc(value if isinstance(value, str) else json.dumps(value))


def _test_rows(v: ConfirmVerdict, metric: str) -> list[tuple[str, str]]:
    text = f"{signed(v.effect)} {esc(metric)} (+ = better)"
    if v.ci95:
        text += f", 95% CI [{v.ci95[0]:+.4g}, {v.ci95[1]:+.4g}]"
    rows = [("effect", text)]
    if v.effect_pct is not None:
        ci = v.ci95_pct
        rows.append(("effect %", pct(v.effect_pct)
                     + (f", 95% CI [{ci[0]:+.2f}%, {ci[1]:+.2f}%]" if ci else "")))
    rows.append(("p-value", f"{v.p_value:.3g}"
                 + (f" (test level {v.alpha:g})" if v.alpha else "")))
    rows.append(("fresh seeds", esc(", ".join(str(s) for s in v.seeds))))
    if v.passed is not None:
        rows.append(("test passed", "yes" if v.passed else "no"))
    if v.task_gains is not None:
        rows.append(("gain on the task's seeds",
                     esc(", ".join(f"seed {s}: {g:+.4g}" for s, g in v.task_gains.items()))))
    if v.effect_pct is None:  # the parent's mean was 0: no percentages to name
        rows += [_raw("effect_pct", None),
                 _raw("ci95_pct", None if v.ci95_pct is None else list(v.ci95_pct))]
    return rows + [_raw("sigma", v.sigma), _raw("df", v.df)]


def _stop_rows(v: StoppedEarlyVerdict, metric: str, link: Link) -> list[tuple[str, str]]:
    rows = [("against", "node " + node_ref(v.parent, link))]
    scope = v.scope or "seed"  # a stop of a recursor before test looks: on a seed run
    if v.pairs_ended:  # a look between runs: the screen, or a fresh pair, had ended
        done, total = v.pairs_ended
        rows.append(("stopped", "after its screen, before its confirmation pairs" if done == 0
                     else f"after {done} of its {total} confirmation pairs"))
    else:
        where = f"{v.progress:.0%} of evaluation {esc(v.evaluation)}"
        rows.append(("stopped at", where
                     + (f", step {esc(v.step)}" if v.step is not None else "")
                     + (" (its screen; its test forecast to fail)" if v.during == "screen"
                        else " (confirmation)" if scope == "confirm" else "")))
    lo, hi = v.interval90
    rows.append(("forecast", f"final difference node − parent {signed(v.predicted_difference)} "
                 f"{esc(metric)}" + (f", 90% interval [{lo:+.4g}, {hi:+.4g}]"
                                     if lo is not None else "")))
    if v.scope == "confirm":
        rows.append(("P(test passes)", esc(f"{v.p_pass:.3g} < stop level {v.risk:g}")))
        rows.append(("the test needs", f"{v.bar:.4g} better"))
        tau = v.effect_spread
        rows.append(("prior on its effect", "flat (fewer than 3 nodes had ended a fresh pair)"
                     if tau is None else f"centred on none, spread {tau:.4g} (the run's nodes)"))
    else:
        rows.append(("P(better than the parent)",
                     esc(f"{v.p_better:.3g} < stop level {v.risk:g}")))
    # not named on the page: shown as they are stored (a look between runs names no step)
    if not v.pairs_ended and v.step is None:
        rows.append(_raw("step", None))
    rows.append(_raw("pairs", v.pairs))
    if v.pairs_ended and v.during:
        rows.append(_raw("during", v.during))
    return rows


def seeds_table(detail: dict[str, Any], link: Link) -> str:
    """Per-seed metrics of a node beside its parent's on the same seeds, with the difference."""
    parent = detail.get("parent")
    rows = []
    for r in detail["rows"]:
        note = esc(r.get("reason") or "")
        rows.append([esc(r["evaluation_id"]), esc(r["evaluation"]), esc(r["seed"]),
                     badge_eval(r["status"]), num(r["value"]), num(r["parent"]),
                     signed(r["improvement"]), "" if r["seconds"] is None else f"{r['seconds']:.0f}",
                     f'<span class="why">{note}</span>'])
    parent_head = f">node {parent['id']} (parent)" if parent else ">parent"
    out = table([">eval", "evaluation", ">seed", "status", f">node {detail['id']}", parent_head,
                 ">improvement", ">seconds", "note"], rows, "seeds")
    if detail.get("paired_mean") is not None:
        tested = detail.get("vs_parent") or {}
        # the mean over every seed counts the screening seed, on which the node was picked
        # for looking better: the judge's effect leaves it out, and may well disagree
        judged = (f"; the judge's test, on the fresh seeds only: <b>{esc(tested['text'])}</b>"
                  if tested.get("basis") == "test" else "")
        out += (f'<p class="muted">Mean paired improvement over {detail["paired_n"]} seed(s): '
                f'<b>{signed(detail["paired_mean"])}</b> {esc(detail["metric"])} (+ = better)'
                f'{judged}.</p>')
    return out


def badge_eval(status: str) -> str:
    cls = {"ok": "accepted", "failed": "failed", "stopped": "stopped-early",
           "running": "running"}.get(status, "other")
    return f'<span class="status s-{cls}">{esc(status)}</span>'


def diff_block(text: str | None) -> str:
    """A unified diff with added and removed lines marked (escaped, line by line)."""
    if not text:
        return '<p class="muted">No diff.</p>'
    out = []
    for line in text.splitlines():
        if line.startswith(("+++", "---", "diff ", "index ")):
            cls = "meta"
        elif line.startswith("@@"):
            cls = "hunk"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        else:
            cls = "ctx"
        out.append(f'<span class="{cls}">{esc(line)}</span>')
    return '<pre class="diff">' + "\n".join(out) + "</pre>"


def pre(text: str | None, cls: str = "log") -> str:
    return f'<pre class="{cls}">{esc(text or "")}</pre>'
