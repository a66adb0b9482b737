"""SEARCH/REPLACE blocks: the one patch format of every proposer.

A patch is a sequence of blocks, each naming a file on the line before it::

    train.py
    <<<<<<< SEARCH
    learning_rate = 1e-3
    =======
    learning_rate = 3e-3
    >>>>>>> REPLACE

The SEARCH text must occur exactly once in the file as it stands after the blocks before it;
an empty SEARCH creates a new file. A block without a file line applies to the previous block's
file. Markdown fences around blocks (as LLMs write them) are ignored. Errors say which block
failed and show the closest lines of the file, so that an LLM can repair its patch.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from recursor.errors import PatchApplyError, PatchFormatError

SEARCH = re.compile(r"^<{5,9} ?SEARCH\s*$")
DIVIDER = re.compile(r"^={5,9}\s*$")
REPLACE = re.compile(r"^>{5,9} ?REPLACE\s*$")
FENCE = re.compile(r"^\s*```")


@dataclass(frozen=True)
class Edit:
    path: str
    search: str
    replace: str


@dataclass(frozen=True)
class Patch:
    edits: tuple[Edit, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.path for e in self.edits))


def parse(text: str) -> Patch:
    """Read SEARCH/REPLACE blocks from `text` (prose around the blocks is ignored)."""
    lines = text.splitlines()
    edits: list[Edit] = []
    path: str | None = None
    i = 0
    while i < len(lines):
        if not SEARCH.match(lines[i]):
            i += 1
            continue
        path = _path_before(lines, i) or path
        if path is None:
            raise PatchFormatError(
                f"block {len(edits) + 1} (line {i + 1}): no file name on the line before "
                "'<<<<<<< SEARCH'; write the path of the file to edit there"
            )
        search, i = _collect(lines, i + 1, DIVIDER, "=======", len(edits) + 1)
        replace, i = _collect(lines, i, REPLACE, ">>>>>>> REPLACE", len(edits) + 1)
        edits.append(Edit(path, search, replace))
    if not edits:
        raise PatchFormatError(
            "no SEARCH/REPLACE block found; a block is a file name, then '<<<<<<< SEARCH', "
            "the exact old lines, '=======', the new lines, and '>>>>>>> REPLACE'"
        )
    return Patch(tuple(edits))


def _path_before(lines: list[str], i: int) -> str | None:
    j = i - 1
    while j >= 0 and (not lines[j].strip() or FENCE.match(lines[j])):
        j -= 1
    if j < 0 or REPLACE.match(lines[j]):
        return None
    candidate = lines[j].strip().strip("`*").strip()
    # a path has no spaces; prose before the first block is not a file name
    if not candidate or " " in candidate or candidate.endswith(":"):
        return None
    return candidate


def _collect(lines: list[str], i: int, end: re.Pattern, marker: str, block: int) -> tuple[str, int]:
    body: list[str] = []
    while i < len(lines):
        if end.match(lines[i]):
            return "".join(line + "\n" for line in body), i + 1
        if SEARCH.match(lines[i]):
            break
        body.append(lines[i])
        i += 1
    raise PatchFormatError(f"block {block}: missing '{marker}' line")


def apply(patch: Patch, files: Mapping[str, str]) -> dict[str, str]:
    """Return the new contents of every file the patch touches. `files` is left unchanged."""
    out: dict[str, str] = {}
    for n, edit in enumerate(patch.edits, start=1):
        current = out.get(edit.path, files.get(edit.path))
        if not edit.search.strip():
            if current is not None and current.strip():
                raise PatchApplyError(
                    f"block {n}: empty SEARCH for {edit.path}, which already exists; "
                    "quote the lines to replace"
                )
            out[edit.path] = edit.replace
            continue
        if current is None:
            known = ", ".join(sorted(files)) or "none"
            raise PatchApplyError(f"block {n}: no file {edit.path} (files: {known})")
        out[edit.path] = _replace_once(current, edit, n)
    return out


def _replace_once(text: str, edit: Edit, n: int) -> str:
    count = text.count(edit.search)
    if count == 1:
        return text.replace(edit.search, edit.replace, 1)
    if count > 1:
        raise PatchApplyError(
            f"block {n}: the SEARCH text occurs {count} times in {edit.path}; "
            "include more surrounding lines so that it matches exactly one place"
        )
    # LLMs and editors disagree on trailing whitespace; nothing else is forgiven
    span = _match_ignoring_trailing_space(text, edit.search)
    if span is not None:
        start, stop = span
        return text[:start] + edit.replace + text[stop:]
    raise PatchApplyError(
        f"block {n}: the SEARCH text was not found in {edit.path}. "
        f"It must match the file exactly.{_closest(text, edit.search)}"
    )


def _match_ignoring_trailing_space(text: str, search: str) -> tuple[int, int] | None:
    want = [line.rstrip() for line in search.splitlines()]
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    hits = [
        i
        for i in range(len(lines) - len(want) + 1)
        if [line.rstrip() for line in lines[i : i + len(want)]] == want
    ]
    if len(hits) != 1:
        return None
    return offsets[hits[0]], offsets[hits[0] + len(want)]


def _closest(text: str, search: str) -> str:
    lines = text.splitlines()
    first = next((line for line in search.splitlines() if line.strip()), "")
    best = difflib.get_close_matches(first, lines, n=1, cutoff=0.5)
    if not best:
        return ""
    at = lines.index(best[0])
    window = "\n".join(lines[max(0, at - 2) : at + len(search.splitlines()) + 2])
    return f" The closest lines (from line {at + 1}) are:\n{window}"
