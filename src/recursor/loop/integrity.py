"""The run's integrity check: the harness and the data are what they were when the run began,
and every node's program is what it was when the node was recorded.

Checked before and after every experiment. The sandbox already keeps the program away from all
of them where the platform allows; this check is what still holds where it does not (under a
weaker sandbox a candidate could rewrite its parent's program, so that the parent's runs on
its confirmation seeds lose), and it turns a breach into a stopped run with the file named,
never into a number in the report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from recursor.discoveries.records import program_hash
from recursor.errors import IntegrityError
from recursor.task import Task


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Integrity:
    def __init__(self, task: Task, harness_hashes: Mapping[str, str],
                 data_paths: Mapping[str, str], programs: Mapping[str, str] | None = None):
        self.task = task
        self.harness = dict(harness_hashes)
        self.programs = {int(k): v for k, v in (programs or {}).items()}  # node -> hash
        # the task states the data's hashes when it can; otherwise what is there now is the truth
        declared = {d.name: d.sha256 for d in task.spec.data}
        self.data = {Path(p): declared.get(name) or _sha256(Path(p))
                     for name, p in data_paths.items()}

    def check(self, when: str) -> None:
        found = self.task.harness_hashes()
        for name, digest in self.harness.items():
            if found.get(name) != digest:
                raise IntegrityError(
                    f"{when}: harness file {self.task.root / name} changed since the run "
                    f"started (sha256 {found.get(name, 'missing')[:12]}..., expected "
                    f"{digest[:12]}...); no experiment runs against a modified harness")
        for path, digest in self.data.items():
            now = _sha256(path) if path.exists() else "missing"
            if now != digest:
                raise IntegrityError(
                    f"{when}: data file {path} changed since the run started (sha256 "
                    f"{now[:12]}..., expected {digest[:12]}...); results against it would "
                    "not be comparable")

    def check_program(self, node_id: int, files: Mapping[str, str]) -> bool:
        """Whether `files` are the node's program as first seen (they are recorded then: True
        when they were new). Raises IntegrityError when they changed since."""
        digest = program_hash(files)
        known = self.programs.get(node_id)
        if known is None:
            self.programs[node_id] = digest
            return True
        if known != digest:
            raise IntegrityError(
                f"node {node_id}'s program changed on disk since it was recorded (sha256 "
                f"{digest[:12]}..., expected {known[:12]}...): something rewrote it between "
                "its experiments; no result of it can be trusted")
        return False
