"""The run store: one SQLite database per run (WAL mode), artifacts as files beside it.

It is the single source of truth for `status`, `report`, `show` and `resume`. Contract:

- only the process driving the run writes, from one thread; readers in other processes see
  every committed change (WAL lets them read while the run writes);
- every write is one transaction, committed before the call returns, so a run killed at any
  moment loses nothing that had finished;
- a decided node is immutable: its status can leave `running` once, and never changes again;
- a (node, seed, evaluation) has at most one evaluation that is running or finished.

Folder layout::

    RUN/run.db
    RUN/task/                          the task as the run started it (harness, program, ideas)
    RUN/nodes/<id>/workspace/          the program of node <id>
    RUN/nodes/<id>/patch.txt           the idea's patch, as proposed
    RUN/nodes/<id>/diff.patch          unified diff from the parent's program
    RUN/nodes/<id>/evals/<eval>-seed<seed>-<name>/   metrics.jsonl, harness.log, program.log
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recursor.errors import IllegalTransition, StoreError
from recursor.store.records import (
    TRANSITIONS,
    Call,
    EvalStatus,
    Evaluation,
    Finding,
    Idea,
    Node,
    NodeStatus,
    Prediction,
)
from recursor.store.schema import SCHEMA_VERSION, migrate
from recursor.store.verdicts import Verdict, verdict_from_json

DB_NAME = "run.db"


def _connect(path: Path, readonly: bool, timeout: float = 30) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
    else:
        conn = sqlite3.connect(path, timeout=timeout)
        _wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


def _wal(conn: sqlite3.Connection, wait: float = 30.0) -> None:
    """Switch to write-ahead logging. Switching a new database takes a lock that SQLite does not
    wait for (its busy timeout does not apply), so two openers of a run being created (the run,
    `recursor status` from another shell) can meet here: the later one retries."""
    deadline = time.monotonic() + wait
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class RunStore:
    def __init__(self, run_dir: Path, conn: sqlite3.Connection):
        self.run_dir = run_dir
        self._conn = conn

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, run_dir: Path | str, meta: Mapping[str, Any]) -> RunStore:
        run_dir = Path(run_dir)
        if (run_dir / DB_NAME).exists():
            raise StoreError(
                f"{run_dir} already holds a run; use `recursor resume {run_dir}` to continue it, "
                "or choose another --run-dir"
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        store = cls(run_dir, _connect(run_dir / DB_NAME, readonly=False))
        migrate(store._conn)
        with store._conn:
            for key, value in meta.items():
                store._conn.execute("INSERT INTO meta VALUES (?, ?)", (key, json.dumps(value)))
        return store

    @classmethod
    def open(cls, run_dir: Path | str, readonly: bool = False, timeout: float = 30) -> RunStore:
        """`timeout`: how long to wait for a lock another process holds, in seconds (a reader of
        other runs, which may skip one that is busy, waits less)."""
        run_dir = Path(run_dir)
        path = run_dir / DB_NAME
        if not path.exists():
            raise StoreError(f"{run_dir} is not a recursor run folder (no {DB_NAME} in it)")
        conn = _connect(path, readonly=readonly, timeout=timeout)
        if readonly:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version != SCHEMA_VERSION:  # an old run: upgrade it once, then read
                conn.close()
                migrate(_connect(path, readonly=False, timeout=timeout))
                conn = _connect(path, readonly=True, timeout=timeout)
        else:
            migrate(conn)
        return cls(run_dir, conn)

    def close(self) -> None:
        self._conn.close()

    # -- meta ------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        return {r["key"]: json.loads(r["value"]) for r in rows}

    def set_meta(self, key: str, value: Any) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)),
            )

    # -- sessions: who drives the run, and for how long -------------------------------------

    def begin_session(self) -> int:
        now = time.time()
        with self._conn:
            cur = self._conn.execute(
                "INSERT INTO sessions (pid, host, started_at, heartbeat_at) VALUES (?, ?, ?, ?)",
                (os.getpid(), socket.gethostname(), now, now),
            )
        return int(cur.lastrowid)

    def heartbeat(self, session: int) -> None:
        with self._conn:
            self._conn.execute("UPDATE sessions SET heartbeat_at=? WHERE id=?", (time.time(), session))

    def end_session(self, session: int, reason: str) -> None:
        now = time.time()
        with self._conn:
            self._conn.execute(
                "UPDATE sessions SET ended_at=?, heartbeat_at=?, end_reason=? WHERE id=?",
                (now, now, reason, session),
            )

    def sessions(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn.execute("SELECT * FROM sessions ORDER BY id")]

    # -- nodes -----------------------------------------------------------------------------

    def node_dir(self, node_id: int) -> Path:
        return self.run_dir / "nodes" / str(node_id)

    def add_node(
        self,
        parent_id: int | None,
        idea: Idea | None,
        files: Mapping[str, str] | None,
        patch_text: str | None = None,
        diff_text: str | None = None,
        status: NodeStatus = NodeStatus.RUNNING,
        reason: str | None = None,
        applied: Sequence[Mapping[str, Any]] = (),
    ) -> Node:
        """Record a new node with its program files (None when its patch did not apply) and
        how each block of its patch was applied (`recursor.patch.Match.record`)."""
        now = time.time()
        with self._conn:
            cur = self._conn.execute(
                "INSERT INTO nodes (parent_id, status, idea, workspace, created_at, decided_at,"
                " reason, applied) VALUES (?, ?, ?, '', ?, ?, ?, ?)",
                (
                    parent_id,
                    status.value,
                    json.dumps(dataclasses.asdict(idea)) if idea else None,
                    now,
                    now if status.final else None,
                    reason,
                    json.dumps([dict(m) for m in applied]) if applied else None,
                ),
            )
            node_id = int(cur.lastrowid)
            folder = self.node_dir(node_id)
            # a node whose insert was lost to a kill may have left files under this id
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            workspace = patch_path = diff_path = None
            if patch_text is not None:
                patch_path = folder / "patch.txt"
                patch_path.write_text(patch_text)
            if diff_text is not None:
                diff_path = folder / "diff.patch"
                diff_path.write_text(diff_text)
            if files is not None:
                workspace = folder / "workspace"
                for name, text in files.items():
                    (workspace / name).parent.mkdir(parents=True, exist_ok=True)
                    (workspace / name).write_text(text)
            self._conn.execute(
                "UPDATE nodes SET workspace=?, patch_path=?, diff_path=? WHERE id=?",
                (self._rel(workspace) or "", self._rel(patch_path), self._rel(diff_path), node_id),
            )
        return self.node(node_id)

    def decide(
        self,
        node_id: int,
        status: NodeStatus,
        reason: str,
        verdict: Verdict | None = None,
    ) -> Node:
        current = self.node(node_id).status
        if status not in TRANSITIONS[current]:
            raise IllegalTransition(
                f"node {node_id} is {current.value}; it cannot become {status.value}"
            )
        with self._conn:
            self._conn.execute(
                "UPDATE nodes SET status=?, reason=?, verdict=?, decided_at=? WHERE id=?",
                (status.value, reason, json.dumps(verdict.to_json()) if verdict else None, time.time(),
                 node_id),
            )
        return self.node(node_id)

    def node(self, node_id: int) -> Node:
        row = self._conn.execute("SELECT * FROM nodes WHERE id=?", (node_id,)).fetchone()
        if row is None:
            raise StoreError(f"run {self.run_dir} has no node {node_id}")
        evals = self._conn.execute(
            "SELECT * FROM evaluations WHERE node_id=? ORDER BY id", (node_id,)
        ).fetchall()
        found = self._conn.execute(
            "SELECT * FROM findings WHERE node_id=? ORDER BY id", (node_id,)
        ).fetchall()
        return self._node(row, [self._evaluation(e) for e in evals],
                          [self._finding(f) for f in found])

    def nodes(self) -> list[Node]:
        evals: dict[int, list[Evaluation]] = {}
        for row in self._conn.execute("SELECT * FROM evaluations ORDER BY id"):
            evals.setdefault(row["node_id"], []).append(self._evaluation(row))
        found: dict[int, list[Finding]] = {}
        for row in self._conn.execute("SELECT * FROM findings ORDER BY id"):
            found.setdefault(row["node_id"], []).append(self._finding(row))
        rows = self._conn.execute("SELECT * FROM nodes ORDER BY id").fetchall()
        return [self._node(r, evals.get(r["id"], []), found.get(r["id"], [])) for r in rows]

    # -- the auditor's findings ------------------------------------------------------------

    def add_findings(self, node_id: int, findings: Iterable[Finding]) -> None:
        """Record findings on a node (decided or not: a finding is evidence, not a status)."""
        now = time.time()
        with self._conn:
            self._conn.executemany(
                "INSERT INTO findings (node_id, seed, checker, blocking, message, evidence, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(node_id, f.seed, f.check, int(f.blocking), f.message, f.evidence, now)
                 for f in findings],
            )

    # -- proposers' calls to models ---------------------------------------------------------

    def add_calls(self, node_id: int | None, calls: Iterable[Call]) -> None:
        """Record a proposal's model calls; `node_id` None when no node came of them."""
        now = time.time()
        folder = self.run_dir / "calls"
        with self._conn:
            for c in calls:
                cur = self._conn.execute(
                    "INSERT INTO calls (node_id, created_at, proposer, model, purpose, attempt,"
                    " input_tokens, output_tokens, cost, seconds, outcome, detail, transcript)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    (node_id, now, c.proposer, c.model, c.purpose, c.attempt, c.input_tokens,
                     c.output_tokens, c.cost, c.seconds, c.outcome, c.detail))
                if c.transcript:
                    folder.mkdir(exist_ok=True)
                    rel = f"calls/{cur.lastrowid}.md"
                    (self.run_dir / rel).write_text(c.transcript)
                    self._conn.execute("UPDATE calls SET transcript = ? WHERE id = ?",
                                       (rel, cur.lastrowid))

    def calls(self, node_id: int | None = None) -> list[Call]:
        """Every call of the run (oldest first), or those behind one node."""
        sql = "SELECT * FROM calls" + (" WHERE node_id = ?" if node_id is not None else "")
        rows = self._conn.execute(sql + " ORDER BY id",
                                  (node_id,) if node_id is not None else ()).fetchall()
        return [Call(proposer=r["proposer"], model=r["model"], purpose=r["purpose"],
                     attempt=r["attempt"], input_tokens=r["input_tokens"],
                     output_tokens=r["output_tokens"], cost=r["cost"], seconds=r["seconds"],
                     outcome=r["outcome"], detail=r["detail"], transcript=r["transcript"] or "",
                     node_id=r["node_id"], id=r["id"], created_at=r["created_at"])
                for r in rows]

    def total_cost(self) -> float:
        (total,) = self._conn.execute("SELECT COALESCE(SUM(cost), 0) FROM calls").fetchone()
        return float(total)

    def files(self, node: Node) -> dict[str, str]:
        """The program files of a node, as they were when it was created."""
        root = self.path(node.workspace)
        if root is None or not root.is_dir():
            raise StoreError(f"node {node.id} has no workspace (its patch did not apply)")
        return {
            str(p.relative_to(root)): p.read_text()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    # -- evaluations -----------------------------------------------------------------------

    def start_evaluation(self, node_id: int, seed: int, evaluation: str) -> Evaluation:
        now = time.time()
        with self._conn:
            try:
                cur = self._conn.execute(
                    "INSERT INTO evaluations (node_id, seed, evaluation, status, started_at,"
                    " job_dir) VALUES (?, ?, ?, 'running', ?, '')",
                    (node_id, seed, evaluation, now),
                )
            except sqlite3.IntegrityError:
                raise StoreError(
                    f"node {node_id} already has evaluation {evaluation!r} on seed {seed}"
                ) from None
            eval_id = int(cur.lastrowid)
            job_dir = self.node_dir(node_id) / "evals" / f"{eval_id}-seed{seed}-{evaluation}"
            self._conn.execute(
                "UPDATE evaluations SET job_dir=? WHERE id=?", (self._rel(job_dir), eval_id)
            )
        return self.evaluation(eval_id)

    def finish_evaluation(
        self,
        eval_id: int,
        *,
        ok: bool,
        value: float | None,
        metrics: Mapping[str, Any],
        reason: str | None,
        seconds: float,
        curve: Iterable[Mapping[str, Any]] = (),
        stopped: bool = False,
    ) -> Evaluation:
        """Record an experiment's end; `stopped`: the value function stopped it (or its node)."""
        status = EvalStatus.STOPPED if stopped else EvalStatus.OK if ok else EvalStatus.FAILED
        with self._conn:
            updated = self._conn.execute(
                "UPDATE evaluations SET status=?, value=?, metrics=?, reason=?, finished_at=?,"
                " seconds=? WHERE id=? AND status='running'",
                (status.value, value, json.dumps(dict(metrics)), reason, time.time(), seconds,
                 eval_id),
            ).rowcount
            if not updated:
                raise StoreError(f"evaluation {eval_id} is not running; its result is not taken")
            self._conn.executemany(
                "INSERT INTO curves VALUES (?, ?, ?)",
                [(eval_id, i, json.dumps(dict(p))) for i, p in enumerate(curve)],
            )
        return self.evaluation(eval_id)

    def lose_running(self) -> list[Evaluation]:
        """Mark evaluations still `running` as lost (their process is gone); return them."""
        rows = self._conn.execute("SELECT * FROM evaluations WHERE status='running'").fetchall()
        with self._conn:
            self._conn.execute(
                "UPDATE evaluations SET status='lost', finished_at=? WHERE status='running'",
                (time.time(),),
            )
        return [self._evaluation(r) for r in rows]

    def evaluation(self, eval_id: int) -> Evaluation:
        row = self._conn.execute("SELECT * FROM evaluations WHERE id=?", (eval_id,)).fetchone()
        if row is None:
            raise StoreError(f"run {self.run_dir} has no evaluation {eval_id}")
        return self._evaluation(row)

    def curve(self, eval_id: int) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT point FROM curves WHERE evaluation_id=? ORDER BY seq", (eval_id,)
        )
        return [json.loads(r["point"]) for r in rows]

    # -- events: the run's audit trail -----------------------------------------------------

    # -- the value function's looks --------------------------------------------------------

    def add_prediction(self, p: Prediction) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT INTO predictions (evaluation_id, reference_id, at, progress, step,"
                " predicted, lo, hi, p_better, risk, decision, scope)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (p.evaluation_id, p.reference_id, p.at or time.time(), p.progress, p.step,
                 p.predicted, p.lo, p.hi, p.p_better, p.risk, p.decision, p.scope),
            )

    def predictions(self) -> list[Prediction]:
        rows = self._conn.execute("SELECT * FROM predictions ORDER BY id").fetchall()
        return [Prediction(evaluation_id=r["evaluation_id"], reference_id=r["reference_id"],
                           progress=r["progress"], step=r["step"], predicted=r["predicted"],
                           lo=r["lo"], hi=r["hi"], p_better=r["p_better"], risk=r["risk"],
                           decision=r["decision"], at=r["at"], scope=r["scope"])
                for r in rows]

    def event(self, kind: str, message: str, node_id: int | None = None) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT INTO events (at, kind, node_id, message) VALUES (?, ?, ?, ?)",
                (time.time(), kind, node_id, message),
            )

    def events(self, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT * FROM (SELECT * FROM events ORDER BY id DESC LIMIT ?) ORDER BY id", (limit,)
        )
        return [dict(r) for r in rows]

    # -- helpers ---------------------------------------------------------------------------

    def path(self, rel: str | None) -> Path | None:
        """The absolute path of an artifact recorded relative to the run folder."""
        return self.run_dir / rel if rel else None

    def _rel(self, path: Path | None) -> str | None:
        return str(path.relative_to(self.run_dir)) if path is not None else None

    @staticmethod
    def _evaluation(row: sqlite3.Row) -> Evaluation:
        return Evaluation(
            id=row["id"],
            node_id=row["node_id"],
            seed=row["seed"],
            evaluation=row["evaluation"],
            status=EvalStatus(row["status"]),
            value=row["value"],
            metrics=json.loads(row["metrics"]),
            reason=row["reason"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            seconds=row["seconds"],
            job_dir=row["job_dir"],
        )

    @staticmethod
    def _finding(row: sqlite3.Row) -> Finding:
        return Finding(check=row["checker"], blocking=bool(row["blocking"]),
                       message=row["message"], evidence=row["evidence"],
                       node_id=row["node_id"], seed=row["seed"])

    @staticmethod
    def _node(row: sqlite3.Row, evals: list[Evaluation], found: list[Finding] = ()) -> Node:
        return Node(
            id=row["id"],
            parent_id=row["parent_id"],
            status=NodeStatus(row["status"]),
            idea=Idea(**json.loads(row["idea"])) if row["idea"] else None,
            patch_path=row["patch_path"],
            diff_path=row["diff_path"],
            workspace=row["workspace"],
            created_at=row["created_at"],
            decided_at=row["decided_at"],
            reason=row["reason"],
            verdict=verdict_from_json(json.loads(row["verdict"])) if row["verdict"] else None,
            evaluations=tuple(evals),
            findings=tuple(found),
            applied=tuple(json.loads(row["applied"])) if row["applied"] else (),
        )
