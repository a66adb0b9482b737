"""Finished candidate/parent pairs: of this run, and of earlier runs of the same task.

Earlier runs count only when they ran the same task with the same overrides (a different token
budget is a different curve) and their harness streamed `progress`. They are read straight from
their databases, read-only: a run that is going on elsewhere is never locked or migrated.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recursor.store.records import EvalStatus, Node
from recursor.value.curves import Curve
from recursor.value.model import Pair


def run_pairs(nodes: Iterable[Node], metric: str) -> list[tuple[int, int, float, int]]:
    """(candidate evaluation, parent evaluation, difference, candidate node) of every finished
    pair of a run."""
    nodes = list(nodes)
    by_id = {n.id: n for n in nodes}
    out = []
    for node in nodes:
        parent = by_id.get(node.parent_id) if node.parent_id is not None else None
        if parent is None:
            continue
        theirs = {e.seed: e for e in parent.evaluations
                  if e.evaluation == metric and e.status is EvalStatus.OK}
        for e in node.evaluations:
            ref = theirs.get(e.seed)
            if e.evaluation == metric and e.status is EvalStatus.OK and ref is not None:
                out.append((e.id, ref.id, e.value - ref.value, node.id))
    return out


def earlier_pairs(run_dir: Path, task: str, overrides: dict[str, Any], metric: str,
                  key: str, exclude: Iterable[Path] = ()) -> list[Pair]:
    """Pairs of the other runs of `task` beside `run_dir` (same parent folder)."""
    skip = {Path(p).resolve() for p in (run_dir, *exclude)}
    pairs: list[Pair] = []
    for db in sorted(run_dir.parent.glob("*/run.db")):
        if db.parent.resolve() in skip:
            continue
        try:
            pairs += _pairs_of(db, task, overrides, metric, key)
        except (sqlite3.Error, ValueError, KeyError):
            continue  # not a readable run of ours: another tool's folder, a run being created
    return pairs


def _pairs_of(db: Path, task: str, overrides: dict[str, Any], metric: str,
              key: str) -> list[Pair]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        config = json.loads(meta["config"])
        if json.loads(meta["task"]) != task or config.get("overrides", {}) != overrides:
            return []
        parent_of = dict(conn.execute("SELECT id, parent_id FROM nodes"))
        workspace = dict(conn.execute("SELECT id, workspace FROM nodes"))
        rows = conn.execute("SELECT id, node_id, seed, value FROM evaluations WHERE status=? "
                            "AND evaluation=?", (EvalStatus.OK.value, metric)).fetchall()
        by_node_seed = {(n, s): (i, v) for i, n, s, v in rows}
        pairs = []
        for eid, node, seed, value in rows:
            ref = by_node_seed.get((parent_of.get(node), seed))
            if ref is None:
                continue
            cand, base = _curve(conn, eid, key), _curve(conn, ref[0], key)
            if len(cand.progress) and len(base.progress):
                program = program_key(db.parent / workspace[node]) or (str(db), node)
                pairs.append(Pair(cand, base, value - ref[1], program))
        return pairs
    finally:
        conn.close()


def program_key(workspace: Path) -> str | None:
    """The identity of a program: its files' hash (recursor.library.program_hash). The same idea
    on the same parent in two runs is one program, and its pairs must count once (see
    model.Pair.group)."""
    if not workspace.is_dir():
        return None
    from recursor.library.records import program_hash

    return program_hash({str(p.relative_to(workspace)): p.read_text(errors="surrogateescape")
                         for p in workspace.rglob("*") if p.is_file()})


def _curve(conn: sqlite3.Connection, eval_id: int, key: str) -> Curve:
    points = [json.loads(p) for (p,) in conn.execute(
        "SELECT point FROM curves WHERE evaluation_id=? ORDER BY seq", (eval_id,))]
    return Curve.from_points(points, key)
