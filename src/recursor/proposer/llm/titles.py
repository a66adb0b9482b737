"""An idea's title as the run shows it: what a small model's TITLE copies instead of naming its
change (the task's goal, a line of the brief's history), and a title made from the patch itself
for when it does (`block_size = 64 -> 32 (train.py)`), as a reviewer would retitle it."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from recursor.proposer.base import ProposalContext
from recursor.store.records import NodeStatus


def title_from_patch(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """'block_size = 64 -> 32 (train.py)': the first line a patch changes, before and after."""
    for path in sorted(after):
        old_lines = before.get(path, "").splitlines()
        new_lines = after[path].splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old_lines, b=new_lines).get_opcodes():
            if tag == "equal":
                continue
            was = old_lines[i1].split("#")[0].strip() if i1 < i2 else ""
            now = new_lines[j1].split("#")[0].strip() if j1 < j2 else ""
            change = f"{was} -> {now}" if was and now else f"add {now}" if now else f"remove {was}"
            return f"{change[:90]} ({path})"
    return ""


def echoed_title(title: str, ctx: ProposalContext) -> str:
    """What a TITLE copies instead of naming the change ("" when nothing): the task's title or
    goal, or a line of the brief's history. Small models do both."""
    from rapidfuzz import fuzz

    spec = ctx.task.spec
    lowered = title.lower()
    if any(f"({n.idea.proposer})" in title for n in ctx.nodes if n.idea) or any(
            f" — {status.value}" in lowered for status in NodeStatus):
        return "a line of the run's history"
    goal = spec.goal.strip().split("\n")[0]
    if max(fuzz.token_set_ratio(lowered, spec.title.lower()),
           fuzz.partial_ratio(lowered, goal.lower()) if len(title) >= 30 else 0) >= 90:
        return "the task's goal"
    return ""
