"""A direction for a model that repeats itself or is lost: an untried idea of the task's library,
named, with the lines where it goes; and the list of what the run has tried.

Told that its answer made a program the run had tried, and shown the list of what was tried, a
1.5B model answered with one of those ideas again (the repeats of the tiny-lm runs of
2026-12-07: the run's last change, made again, in 5 of 8 first answers). Asked to implement
one named change at lines it is shown, it writes a patch it can: a model that cannot find a new
direction can still implement one. The direction is the library's title and the place its patch
changes, never the patch: the model writes the change, and the researcher records which
direction it was given (`Idea.reason`), and the library's key when the program it made is the
library idea's own, so that neither the library nor the brief offers it again.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping, Sequence

from recursor import patch as patches
from recursor.errors import PatchError
from recursor.proposer.base import ProposalContext
from recursor.proposer.brief import untried_ideas
from recursor.proposer.llm.hints import shown
from recursor.store.records import Idea
from recursor.task.ideas import LibraryIdea

PLACE_LINES = 6  # of each changed place shown: where the change goes, not the whole function


def pick_direction(ctx: ProposalContext, persona: str, family: Sequence[str],
                   given: Sequence[str] = ()) -> LibraryIdea | None:
    """An untried library idea that applies to the parent and that this conversation has not
    been given (`given`: keys). The researchers of a family start at different places in the
    library's order, so that two of them asked at once are not sent to the same idea."""
    fresh = [i for i in untried_ideas(ctx) if i.key not in given]
    if not fresh:
        return None
    at = family.index(persona) if persona in family else 0
    return fresh[at % len(fresh)]


def direction_note(idea: LibraryIdea, files: Mapping[str, str]) -> str:
    """The request to implement `idea`: its title and category, and the lines of `files` its
    patch changes, fenced as the file has them."""
    where = shown(places(idea, files))
    return (f"Take this direction instead, which the run has not tried: {idea.title} "
            f"({idea.category}). Implement it in full with your own patch, in the same format."
            + (f" The lines where it goes:\n{where}" if where else ""))


def places(idea: LibraryIdea, files: Mapping[str, str]) -> list[tuple[str, int, str]]:
    """(path, line number, line) of the lines `idea`'s patch replaces in `files`, the first
    `PLACE_LINES` of each place; a new file's block has none."""
    out: list[tuple[str, int, str]] = []
    for edit in idea.patch.edits:
        text = files.get(edit.path, "")
        at = text.find(edit.search) if edit.search.strip() else -1
        if at < 0:
            continue
        first = text.count("\n", 0, at) + 1
        lines = text.splitlines()[first - 1:first + edit.search.rstrip("\n").count("\n")]
        out += [(edit.path, first + k, line) for k, line in enumerate(lines[:PLACE_LINES])
                if line.strip()]
    return out


def implements(idea: LibraryIdea, parent: Mapping[str, str], files: Mapping[str, str]) -> bool:
    """Whether `files` is the program `idea`'s own patch makes of `parent`, up to comments and
    layout in Python files (a model that writes `batch_size = 16` without the line's comment
    made the library's program)."""
    try:
        own = {**parent, **patches.apply(idea.patch, parent)}
    except PatchError:
        return False
    return own.keys() == files.keys() and all(_same_code(path, own[path], files[path])
                                             for path in own)


def _same_code(path: str, a: str, b: str) -> bool:
    if a == b:
        return True
    if not path.endswith(".py"):
        return False
    try:
        return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))
    except SyntaxError:
        return False


def directed_idea(idea: Idea, direction: LibraryIdea, parent: Mapping[str, str],
                  files: Mapping[str, str] | None, after: str) -> Idea:
    """`idea`, answered after the model was given the library's `direction` (after `after`): its
    reason says so, and it carries the library's key when it made the library idea's own
    program."""
    same = files is not None and implements(direction, parent, files)
    said = (f"given the library's direction '{direction.title}' after {after}"
            + (", and made its program" if same else ""))
    return dataclasses.replace(idea, reason=f"{idea.reason}; {said}",
                               key=direction.key if same else idea.key)


def tried_list(ctx: ProposalContext, most: int = 15) -> str:
    """What the run has tried, for a model that repeats itself: the last `most` ideas."""
    ideas = [n for n in ctx.nodes if n.idea]
    if not ideas:
        return "The run has tried nothing yet beyond the baseline."
    last = ideas[-most:]
    lines = [f"What the run has tried ({len(ideas)} ideas" + (
        f"; the last {len(last)}" if len(last) < len(ideas) else "") + "):"]
    lines += [f"- {n.title} ({n.idea.category}): {n.status.value}" for n in last]
    return "\n".join(lines)
