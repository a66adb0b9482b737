"""The runs a dashboard serves: found under its root folder, named by their path inside it.

A URL names a run by that key, and a key is only ever looked up among the runs found here,
never joined onto a path: no URL can reach a file outside the root.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursor.store.sqlite import DB_NAME

if TYPE_CHECKING:
    from recursor.api import Run

DEPTH = 3  # runs/<bench>/<run>/run.db is as deep as recursor's own benchmarks put them


def find_runs(root: Path) -> dict[str, Path]:
    """key -> run folder. A run folder as root is its only run; a folder of runs holds runs up
    to DEPTH levels down. Left out: hidden folders, folders inside a run (its nodes), and
    anything that resolves outside the root (a symlink to elsewhere)."""
    root = root.resolve()
    if (root / DB_NAME).is_file():
        return {root.name: root}
    found: dict[str, Path] = {}
    for here, dirs, _files in os.walk(root):  # symlinked folders are not entered
        depth = len(Path(here).relative_to(root).parts)
        keep = []
        for name in sorted(dirs):
            folder = Path(here) / name
            if name.startswith("."):
                continue
            if (folder / DB_NAME).is_file():
                if folder.resolve().is_relative_to(root) and not folder.is_symlink():
                    found[folder.relative_to(root).as_posix()] = folder
            elif depth + 1 < DEPTH:
                keep.append(name)
        dirs[:] = keep
    return found


@contextlib.contextmanager
def opened(folder: Path) -> Iterator[Run]:
    """A run opened read-only for one request (an SQLite connection belongs to its thread)."""
    import recursor

    run = recursor.open_run(folder)
    try:
        yield run
    finally:
        run.close()


def run_row(key: str, folder: Path) -> dict[str, Any]:
    """One line of the runs page: task, status, best metric, counts; or what went wrong."""
    db = folder / DB_NAME
    row: dict[str, Any] = {"key": key, "path": str(folder),
                           "modified": db.stat().st_mtime if db.exists() else 0.0}
    try:
        with opened(folder) as run:
            report = run.report()
            nodes = run.nodes()
    except Exception as err:  # a run cut short or of another version: listed, not fatal
        row["error"] = f"{type(err).__name__}: {err}"
        return row
    started = min((n.created_at for n in nodes), default=None)
    row.update(task=report["task"], status=report["status"], metric=report["metric"],
               baseline=report["baseline"], best=report["best"], counts=report["counts"],
               wall_minutes=report["wall_seconds"] / 60,
               started=time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else "",
               policy=(report.get("config") or {}).get("policy"))
    return row
