"""Finished candidate/parent pairs: of this run, and of earlier runs of the same task.

Earlier runs count only when they ran the same task with the same overrides (a different token
budget is a different curve) and their harness streamed `progress`. They are read through their
stores, read-only (an old run is upgraded once, as any reader of it would): a run that is going
on elsewhere is never locked, and one that is busy or broken is skipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recursor.discoveries.records import program_hash
from recursor.errors import StoreError
from recursor.store import RunStore
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
            pairs += _pairs_of(db.parent, task, overrides, metric, key)
        except (StoreError, sqlite3.Error, ValueError, KeyError):
            continue  # not a readable run of ours: another tool's folder, a run being created
    return pairs


def _pairs_of(folder: Path, task: str, overrides: dict[str, Any], metric: str,
              key: str) -> list[Pair]:
    store = RunStore.open(folder, readonly=True, timeout=1)
    try:
        meta = store.meta()
        if meta["task"] != task or meta["config"].get("overrides", {}) != overrides:
            return []
        nodes = store.nodes()
        parent_of = {n.id: n.parent_id for n in nodes}
        workspace = {n.id: n.workspace for n in nodes}
        evals = sorted((e for n in nodes for e in n.evaluations
                        if e.status is EvalStatus.OK and e.evaluation == metric), key=lambda e: e.id)
        by_node_seed = {(e.node_id, e.seed): e for e in evals}
        pairs = []
        for e in evals:
            ref = by_node_seed.get((parent_of.get(e.node_id), e.seed))
            if ref is None:
                continue
            cand = Curve.from_points(store.curve(e.id), key)
            base = Curve.from_points(store.curve(ref.id), key)
            if len(cand.progress) and len(base.progress):
                program = program_key(folder / workspace[e.node_id]) or (
                    str(folder / "run.db"), e.node_id)
                pairs.append(Pair(cand, base, e.value - ref.value, program))
        return pairs
    finally:
        store.close()


def program_key(workspace: Path) -> str | None:
    """The identity of a program: its files' hash (recursor.discoveries.program_hash). The same idea
    on the same parent in two runs is one program, and its pairs must count once (see
    model.Pair.group)."""
    if not workspace.is_dir():
        return None
    return program_hash({str(p.relative_to(workspace)): p.read_text(errors="surrogateescape")
                         for p in workspace.rglob("*") if p.is_file()})
