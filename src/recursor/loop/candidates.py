"""From a proposal to a recorded node: apply the patch, audit it statically, and record it.

Three kinds of patch never run: one that edits a file the task does not let ideas change
(rejected, the file named), one the static auditor blocks (rejected, with the finding; given
the task's data, `corpus`, it also looks for that data in the patch's literals) and one
whose program the run already holds (rejected, the node named: a patch that changes nothing, or
two ideas applied in either order on two branches; running it again would measure that program
again, not a new one).
A patch that does not apply is a failed node: the idea may be fine, its implementation is not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from recursor import patch as patches
from recursor.audit.admission import apply_proposal
from recursor.audit.memorisation import Corpus
from recursor.discoveries.records import program_hash
from recursor.store import Idea, Node, NodeStatus, RunStore


def add_candidate(store: RunStore, parent: Node, idea: Idea, patch_text: str,
                  parent_files: Mapping[str, str], editable: Sequence[str],
                  programs: Mapping[str, int] | None = None,
                  corpus: Corpus | None = None,
                  may_write: Callable[[str], bool] | None = None,
                  generous: bool = False, given: Sequence[str] = ()) -> Node:
    """Record the proposal as a node: running, or already rejected or failed with the reason.
    `programs` (program_hash -> node, see Programs) names the programs the run holds; `corpus`
    is the task's data, for the auditor's memorisation check; `given` the task's own
    arguments that are paths (`ProgramSpec.given`)."""
    applied = apply_proposal(patch_text, parent_files, editable, corpus, may_write, generous,
                             given)
    status, reason = applied.status, applied.reason
    held = (programs.get(program_hash(applied.files))
            if status is NodeStatus.RUNNING and programs else None)
    if held is not None:
        status = NodeStatus.REJECTED
        reason = (f"duplicate: the same program as node {held}" + (
            ", its parent (the patch changes nothing)" if held == parent.id else
            ", which the run holds already") + "; not run again")
    diff = patches.unified_diff(parent_files, applied.files) if applied.files else None
    node = store.add_node(parent.id, idea, applied.files, patch_text, diff,
                          status=status, reason=reason,
                          applied=[m.record() for m in applied.matches])
    if applied.findings:
        store.add_findings(node.id, applied.findings)
        node = store.node(node.id)
    return node


class Programs:
    """The programs a run holds, by program_hash, for proposers to avoid making one again (two
    ideas applied in either order on two branches are one program). A node's files never
    change, so each is read and hashed once."""

    def __init__(self, store: RunStore):
        self.store = store
        self._hashes: dict[int, str | None] = {}  # node -> program_hash; None: no program

    def of(self, nodes: Iterable[Node]) -> dict[str, int]:
        """program_hash -> the first node (of these and those seen before) holding it."""
        for node in nodes:
            if node.id not in self._hashes:
                self._hashes[node.id] = (program_hash(self.store.files(node))
                                         if node.workspace else None)
        out: dict[str, int] = {}
        for node_id, digest in sorted(self._hashes.items()):
            if digest is not None:
                out.setdefault(digest, node_id)
        return out
