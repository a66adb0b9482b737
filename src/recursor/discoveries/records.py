"""A discovery: an accepted step, with everything needed to check it and to build on it.

A discovery is written when the judge accepts a node. It keeps the idea (title, hypothesis,
rationale, where it came from), the patch against the parent it was accepted on, the evidence
(per-seed metrics of node and parent, the paired test's effect, interval and p-value, held-out
results, the auditor's findings), and where it came from (task, run, node, machine). Beside its
record in the library: the patch, a diff from the task's baseline to the accepted program, and
the task folder with the parent's program in place of the baseline, so that `reproduce` can run
it again from the record alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


def program_hash(files: Mapping[str, str]) -> str:
    """The identity of a program: the hash of its files (paths and texts)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Discovery:
    id: str
    created_at: float
    task: str  # the task's name
    task_fingerprint: str  # program_hash of the task's baseline program
    metric: str
    minimize: bool
    title: str
    hypothesis: str
    rationale: str
    source: str
    category: str
    key: str  # the idea's key in the task's library ("" for a free-form idea)
    proposer: str
    patch: str  # SEARCH/REPLACE (or unified) against the parent's program
    parent_fingerprint: str  # program_hash of the program the patch was accepted on
    program_fingerprint: str  # program_hash of the accepted program
    depth: int  # accepted steps from the baseline to this one
    builds_on: tuple[str, ...]  # ids of the discoveries on the path from the baseline
    evidence: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, Any] = field(default_factory=dict)  # run, node, machine, recursor version
    overrides: dict[str, Any] = field(default_factory=dict)  # the run's task.toml overrides

    @property
    def short(self) -> str:
        return self.id[:10]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["builds_on"] = list(self.builds_on)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Discovery:
        known = {f for f in cls.__dataclass_fields__}
        fields = {k: v for k, v in data.items() if k in known}
        fields["builds_on"] = tuple(fields.get("builds_on", ()))
        return cls(**fields)


def discovery_id(task_fingerprint: str, parent_fingerprint: str, program_fingerprint: str) -> str:
    """The same change of the same program of the same task is one discovery, whichever run
    found it again: its id is the hash of the three."""
    text = f"{task_fingerprint}:{parent_fingerprint}:{program_fingerprint}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]
