"""`Run`: a run folder, read. It lives below the API so that reports, exports and the MLflow
logger can take a run without importing the API, which imports them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recursor.loop.snapshot import run_task_snapshot
from recursor.report import pareto
from recursor.report.anytime import AnytimeYield, anytime_yield
from recursor.report.rows import NodeRow
from recursor.report.summary import build_report, run_status, table_rows
from recursor.settings import RunConfig
from recursor.store import Node, RunStore
from recursor.task import Task


class Run:
    """A run folder, read through its store. Cheap to create; reads are always fresh."""

    def __init__(self, run_dir: Path | str):
        self.run_dir = Path(run_dir)
        self._store = RunStore.open(self.run_dir, readonly=True)

    def nodes(self) -> list[Node]:
        return self._store.nodes()

    def node(self, node_id: int) -> Node:
        return self._store.node(node_id)

    def files(self, node_id: int) -> dict[str, str]:
        """The program files of a node (path -> text), as its experiments ran them."""
        return self._store.files(self._store.node(node_id))

    def curve(self, evaluation_id: int) -> list[dict[str, Any]]:
        return self._store.curve(evaluation_id)

    def events(self, limit: int = 1000) -> list[dict[str, Any]]:
        return self._store.events(limit)

    @property
    def status(self) -> str:
        return run_status(self._store)

    @property
    def meta(self) -> dict[str, Any]:
        """What the run records about itself: task, config, created_at, finished_at, ..."""
        return self._store.meta()

    @property
    def config(self) -> RunConfig:
        return RunConfig.from_json(self._store.meta()["config"])

    @property
    def task(self) -> Task:
        return run_task_snapshot(self._store)

    def report(self) -> dict[str, Any]:
        task, nodes = self.task, self.nodes()
        found = anytime_yield(task, nodes)
        return {**build_report(self._store), "pareto": pareto.front(task.spec, nodes),
                "anytime_yield": None if found is None else found.to_json()}

    def anytime_yield(self, horizon: float | None = None,
                      heldout: str | None = None) -> AnytimeYield | None:
        """The run's anytime research yield over `horizon` seed-run equivalents (default: what
        the run spent), as recursor.report.anytime defines it; None while the baseline has no
        finished run to count compute in."""
        return anytime_yield(self.task, self.nodes(), horizon, heldout=heldout)

    def rows(self) -> list[NodeRow]:
        """Every node's row of the report's tables: its effect against its parent and why it
        ended (the report's `nodes[].vs_parent` and `nodes[].why`, typed)."""
        return table_rows(self._store)

    def path(self, rel: str | None) -> Path | None:
        """Absolute path of an artifact a node records (patch, diff, workspace, job folder)."""
        return self._store.path(rel)

    def close(self) -> None:
        self._store.close()

    def __repr__(self) -> str:
        return f"Run({str(self.run_dir)!r}, status={self.status!r})"


def open_run(run_dir: Path | str) -> Run:
    """Open a run folder for reading (while it runs, or after)."""
    return Run(run_dir)
