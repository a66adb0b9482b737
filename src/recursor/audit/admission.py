"""Whether a proposal may become a candidate: its patch parsed and applied to the parent's
files, restricted to the files the task lets ideas change, and reviewed by the static auditor.

A model's researcher asks this before it hands a proposal over (and repairs what fails); the
loop asks it again when it records the node (loop/candidates.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from recursor import patch as patches
from recursor.audit.memorisation import Corpus
from recursor.audit.static import review_patch
from recursor.errors import PatchError
from recursor.store import Finding, NodeStatus


@dataclass(frozen=True)
class Applied:
    files: dict[str, str] | None  # None when the patch could not be used
    findings: tuple[Finding, ...]
    status: NodeStatus
    reason: str | None
    matches: tuple[patches.Match, ...] = ()  # where each block went, by which rule


def apply_proposal(patch_text: str, parent_files: Mapping[str, str],
                   editable: Sequence[str], corpus: Corpus | None = None,
                   may_write: Callable[[str], bool] | None = None,
                   generous: bool = False, given: Sequence[str] = ()) -> Applied:
    """The new program of a proposal, with the static auditor's findings, or why there is none.
    `corpus` is the task's data (`audit.memorisation.task_corpus`), for the memorisation check;
    `may_write` (a path -> bool, `ProgramSpec.may_write`) widens `editable` to the new files
    the task lets ideas create; `generous` lets the applier's whole ladder place blocks (a
    model's patch, `Proposal.generous`); `given` names the task's own arguments that the
    harness fills with paths (`ProgramSpec.given`)."""
    try:
        # with one editable file, a block that names no file (or a placeholder) is for it
        patch = patches.parse_any(patch_text, editable[0] if len(editable) == 1 else None)
    except PatchError as err:
        return Applied(None, (), NodeStatus.FAILED, f"patch does not apply: {err}")
    if may_write is not None:
        editable = [*editable, *(f for f in patch.files
                                 if f not in editable and may_write(f))]
    outside = [f for f in patch.files if f not in editable]
    if outside:
        finding = Finding(
            "static.non-editable", True,
            f"the patch edits {', '.join(outside)}, which the task does not let ideas change "
            f"(editable: {', '.join(editable)})",
            "files in the patch: " + ", ".join(patch.files))
        return Applied(None, (finding,), NodeStatus.REJECTED,
                       f"auditor: static.non-editable: {finding.message}")
    try:
        done = patches.apply_blocks(patch, parent_files, generous)
    except PatchError as err:
        return Applied(None, (), NodeStatus.FAILED, f"patch does not apply: {err}")
    files = {**parent_files, **done.files}
    findings = tuple(review_patch(parent_files, files, editable, corpus=corpus, given=given))
    blocking = [f for f in findings if f.blocking]
    if blocking:
        return Applied(files, findings, NodeStatus.REJECTED, blocked_reason(blocking),
                       done.matches)
    return Applied(files, findings, NodeStatus.RUNNING, None, done.matches)


def blocked_reason(findings: Sequence[Finding]) -> str:
    first = findings[0]
    more = f" (and {len(findings) - 1} more finding(s))" if len(findings) > 1 else ""
    return f"auditor: {first.check}: {first.message}{more}"
