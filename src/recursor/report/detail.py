"""One node gathered for a page: idea, per-seed metrics beside its parent's, verdict, diff, logs.

Plain data (dicts and lists) that the HTML report and the dashboard draw from. Files are read
only from inside the run folder: a path recorded in the database that resolves elsewhere (a
symlink a program left behind, a moved folder) is named, never read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursor.report.summary import spec_rows
from recursor.store import EvalStatus, Node

if TYPE_CHECKING:
    from recursor.report.run import Run

LOG_NAMES = ("program.log", "harness.log")
TAIL_BYTES = 64 * 1024  # a log's tail is read from its last bytes: logs can be large


def inside(run_dir: Path, path: Path) -> bool:
    """Whether `path`, with every symlink followed, lies inside the run folder."""
    try:
        return path.resolve().is_relative_to(run_dir.resolve())
    except (OSError, RuntimeError):
        return False


def read_text(run_dir: Path, path: Path | None, limit: int = 2_000_000) -> str | None:
    """A file of the run (its first `limit` characters), or None if missing or outside the run."""
    if path is None or not inside(run_dir, path) or not path.is_file():
        return None
    with path.open(errors="replace") as f:
        return f.read(limit)


def tail(run_dir: Path, path: Path, lines: int) -> str | None:
    """The last `lines` lines of a log of the run, or None if missing or outside the run."""
    if not inside(run_dir, path) or not path.is_file():
        return None
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - TAIL_BYTES))
        data = f.read()
    text = data.decode(errors="replace").splitlines()
    if size > TAIL_BYTES:
        text = text[1:]  # the first line was cut
    return "\n".join(text[-lines:])


def improvement(parent: float, value: float, minimize: bool) -> float:
    """Positive when `value` is better than `parent`, whichever way the metric points."""
    return (parent - value) if minimize else (value - parent)


def seed_rows(node: Node, parent: Node | None, minimize: bool) -> list[dict[str, Any]]:
    """One row per evaluation of the node, with the parent's value on the same seed."""
    rows = []
    for e in node.evaluations:
        pv = parent.values(e.evaluation).get(e.seed) if parent else None
        rows.append({
            "evaluation_id": e.id, "evaluation": e.evaluation, "seed": e.seed,
            "status": e.status.value, "value": e.value, "parent": pv,
            "improvement": (improvement(pv, e.value, minimize)
                            if e.value is not None and pv is not None else None),
            "seconds": e.seconds, "reason": e.reason,
        })
    return rows


def logs(run: Run, node: Node, lines: int = 60) -> list[dict[str, Any]]:
    """The tail of each evaluation's logs; failed evaluations first, as they explain the node."""
    out = []
    order = sorted(node.evaluations, key=lambda e: (e.status is not EvalStatus.FAILED, e.id))
    for e in order:
        folder = run.path(e.job_dir)
        if folder is None:
            continue
        for name in LOG_NAMES:
            text = tail(run.run_dir, folder / name, lines)
            if text is None:
                continue
            out.append({"evaluation_id": e.id, "seed": e.seed, "evaluation": e.evaluation,
                        "status": e.status.value, "reason": e.reason, "name": name,
                        "path": f"{e.job_dir}/{name}", "text": text})
    return out


def node_detail(run: Run, node_id: int, log_lines: int = 60) -> dict[str, Any]:
    """Everything a node's page shows, as data (`log_lines=0`: no logs)."""
    spec = run.task.spec
    nodes = {n.id: n for n in run.nodes()}
    node = run.node(node_id)
    parent = nodes.get(node.parent_id) if node.parent_id is not None else None
    metric = spec.metric.name
    rows = seed_rows(node, parent, spec.minimize)
    paired = [r["improvement"] for r in rows
              if r["evaluation"] == metric and r["improvement"] is not None]
    diff = read_text(run.run_dir, run.path(node.diff_path))
    patch = read_text(run.run_dir, run.path(node.patch_path))
    return {
        "id": node.id,
        "title": node.title,
        "status": node.status.value,
        "baseline": node.is_baseline,
        "idea": node.idea,
        "parent": {"id": parent.id, "title": parent.title, "status": parent.status.value}
        if parent else None,
        "children": [{"id": n.id, "title": n.title, "status": n.status.value}
                     for n in nodes.values() if n.parent_id == node.id],
        "reason": node.reason,
        # the same row the run's tables print: its effect against its parent, why it ended
        **next(r for r in spec_rows({**nodes, node.id: node}, spec)
                 if r.id == node.id).to_json(),
        "verdict": node.verdict,
        "metric": metric,
        "minimize": spec.minimize,
        "rows": rows,
        "paired_mean": sum(paired) / len(paired) if paired else None,
        "paired_n": len(paired),
        "mean": node.mean(metric, spec.seeds.values),
        "findings": [f.to_dict() for f in node.findings],
        "diff": diff,
        "applied": list(node.applied),  # which rule of the applier placed each block
        # a patch that did not apply has no diff: its text is what there is to read
        "patch": patch if not diff else None,
        "failures": [{"seed": e.seed, "evaluation": e.evaluation, "reason": e.reason}
                     for e in node.evaluations if e.status is EvalStatus.FAILED],
        "logs": logs(run, node, log_lines) if log_lines else [],
        "created_at": node.created_at,
        "decided_at": node.decided_at,
        "seconds": sum(e.seconds or 0 for e in node.evaluations),
    }
