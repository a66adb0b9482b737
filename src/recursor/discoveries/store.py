"""The discovery library on disk: one folder per discovery, outside any one run.

    LIBRARY/
      <id>/discovery.json   the record (recursor.discoveries.records.Discovery)
      <id>/patch.txt        the change, against the parent it was accepted on
      <id>/baseline.diff    the accepted program against the task's baseline (`git apply`-able)
      <id>/task/            the task folder, the parent's program in place of the baseline

Plain files rather than a database: a person can read, copy, publish or delete a discovery with
the tools they have, and several runs adding to one library at once never lock each other (a
discovery is written to a temporary folder and renamed into place, and the same discovery found
twice has the same id and is kept once).

Where: `$RECURSOR_LIBRARY` if set, else `$XDG_DATA_HOME/recursor/discoveries`, else
`~/.local/share/recursor/discoveries`; `recursor run --library PATH` names another.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from recursor.discoveries.records import Discovery
from recursor.errors import RecursorError

RECORD = "discovery.json"


def default_location() -> Path:
    if os.environ.get("RECURSOR_LIBRARY"):
        return Path(os.environ["RECURSOR_LIBRARY"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "recursor" / "discoveries"


class LibraryError(RecursorError):
    pass


class DiscoveryLibrary:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root).expanduser() if root is not None else default_location()

    def __repr__(self) -> str:
        return f"DiscoveryLibrary({str(self.root)!r})"

    # -- reading ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Discovery]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())

    def all(self) -> list[Discovery]:
        """Every readable discovery, oldest first. A folder that is not one (half-copied by
        hand, another tool's) is skipped, not fatal: the library belongs to its user."""
        if not self.root.is_dir():
            return []
        found = []
        for record in self.root.glob(f"*/{RECORD}"):
            try:
                found.append(Discovery.from_json(json.loads(record.read_text())))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(found, key=lambda d: (d.created_at, d.id))

    def get(self, ref: str) -> Discovery:
        """A discovery by its id or an unambiguous prefix of it (as `recursor library` shows)."""
        matches = [d for d in self.all() if d.id.startswith(ref)] if ref else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise LibraryError(f"no discovery {ref!r} in the library at {self.root} "
                               f"({len(self)} discoveries; `recursor library` lists them)")
        raise LibraryError(f"{ref!r} names {len(matches)} discoveries; give more of the id: "
                           + ", ".join(d.short for d in matches[:5]))

    def folder(self, discovery: Discovery | str) -> Path:
        return self.root / (discovery if isinstance(discovery, str) else discovery.id)

    def for_task(self, task: str, fingerprint: str | None = None) -> list[Discovery]:
        """The discoveries of a task, oldest first; with `fingerprint`, only those made on the
        same baseline program (a task folder edited since is another starting point)."""
        return [d for d in self.all() if d.task == task
                and (fingerprint is None or d.task_fingerprint == fingerprint)]

    # -- writing ---------------------------------------------------------------------------

    def add(self, discovery: Discovery, files: Mapping[str, str], task_dir: Path | None = None,
            parent_files: Mapping[str, str] | None = None) -> bool:
        """Keep a discovery with its files (name -> text: patch.txt, baseline.diff); with
        `task_dir` and `parent_files`, a copy of the task folder holding the parent's program.
        False when the library already has it."""
        target = self.folder(discovery)
        if (target / RECORD).is_file():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{discovery.id}-", dir=self.root))
        try:
            for name, text in files.items():
                (tmp / name).write_text(text)
            if task_dir is not None:
                shutil.copytree(task_dir, tmp / "task",
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "ideas"))
                for rel, text in (parent_files or {}).items():
                    (tmp / "task" / rel).parent.mkdir(parents=True, exist_ok=True)
                    (tmp / "task" / rel).write_text(text)
            (tmp / RECORD).write_text(json.dumps(discovery.to_json(), indent=2) + "\n")
            try:
                tmp.rename(target)
            except OSError:  # another run wrote the same discovery a moment ago
                if (target / RECORD).is_file():
                    return False
                raise
            return True
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def remove(self, ref: str) -> Discovery:
        d = self.get(ref)
        shutil.rmtree(self.folder(d))
        return d
