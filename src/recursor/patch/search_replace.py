"""SEARCH/REPLACE blocks: the one patch format of every proposer.

A patch is a sequence of blocks, each naming a file on the line before it::

    train.py
    <<<<<<< SEARCH
    learning_rate = 1e-3
    =======
    learning_rate = 3e-3
    >>>>>>> REPLACE

The SEARCH text must stand for exactly one place of the file as it is after the blocks before it;
an empty SEARCH creates a new file. A block without a file line applies to the previous block's
file. Markdown fences around blocks (as LLMs write them) are ignored. Where a SEARCH text does
not occur as written, `recursor.patch.match` finds the one place it stands for (its ladder of
rules), or says why there is none, with the nearest lines of the file, so that an LLM can repair
its patch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from recursor.errors import PatchApplyError, PatchFormatError
from recursor.patch.match import Match, locate

# the markers with three to nine angle brackets: the 1.5B model wrote `<<< SEARCH` once; with
# its word, no line of code reads so. The divider keeps five: `===` lines are in code and text.
SEARCH = re.compile(r"^<{3,9} ?SEARCH\s*$")
DIVIDER = re.compile(r"^={5,9}\s*$")
REPLACE = re.compile(r"^>{3,9} ?REPLACE\s*$")
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


def parse(text: str, default_path: str | None = None) -> Patch:
    """Read SEARCH/REPLACE blocks from `text` (prose around the blocks is ignored).
    `default_path` is the file of a block that names none (a task with one editable file)."""
    lines = text.splitlines()
    edits: list[Edit] = []
    path: str | None = None
    i = 0
    while i < len(lines):
        if not SEARCH.match(lines[i]):
            i += 1
            continue
        before = _path_before(lines, i)
        start = i
        search, i = _collect(lines, i + 1, DIVIDER, "=======", len(edits) + 1)
        named, after = _bare_path(search), _opens_block_after_path(lines, i)
        if named is not None and after:
            # a block of file names only, then a real block before any REPLACE line: the model
            # wrote its file header as a block of its own (1.5B model, three times running)
            path, i = named, after
            continue
        replace, i = _collect(lines, i, REPLACE, ">>>>>>> REPLACE", len(edits) + 1)
        # models put the file name inside the block too: as SEARCH's first line, or there only
        inside = _leading_path(search)
        if inside is not None and (before is None or inside == before):
            before, search = inside, search.split("\n", 1)[1]
            if _leading_path(replace) == inside:
                replace = replace.split("\n", 1)[1]
        path = before or path or default_path
        if path is None:
            raise PatchFormatError(
                f"block {len(edits) + 1} (line {start + 1}): no file name on the line before "
                "'<<<<<<< SEARCH'; write the path of the file to edit there"
            )
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
    candidate = lines[j].strip().strip("`*#").strip()
    # "File: train.py", "### `train.py`", "train.py:" as models write them
    candidate = _unwrap(_LABELLED.sub("", candidate))
    if _PATH_LINE.fullmatch(candidate.removesuffix(":")):
        candidate = candidate.removesuffix(":")
    # a path has no spaces; prose before the first block is not a file name
    if not candidate or " " in candidate or candidate.endswith(":"):
        return None
    return candidate


_LABELLED = re.compile(r"^(?:file ?(?:name|path)?|path)\s*:\s*", re.IGNORECASE)
_PATH_LINE = re.compile(r"[A-Za-z_][\w.-]*(?:/[\w.-]+)*\.[A-Za-z]\w{0,4}")


def _unwrap(name: str) -> str:
    """A file name as written around it: in backticks or bold, or in the angle brackets of the
    format's `<file name>` placeholder (a 1.5B model wrote `<train.py>`)."""
    name = name.strip().strip("`*").strip()
    if name.startswith("<") and name.endswith(">") and not name.startswith("<<"):
        name = name[1:-1].strip()
    return name


def _leading_path(text: str) -> str | None:
    """The first line of `text` when it is a bare file path (`train.py`, `src/k.c`) and more
    follows: no code line is a bare dotted name ending in a file extension."""
    first, sep, _ = text.partition("\n")
    name = _unwrap(first)
    return name if sep and _PATH_LINE.fullmatch(name) else None


def _bare_path(text: str) -> str | None:
    """`text` when it is a single bare file path line, else None."""
    name = _unwrap(text)
    return name if name and "\n" not in name and _PATH_LINE.fullmatch(name) else None


def _opens_block_after_path(lines: list[str], i: int) -> int:
    """The index of a SEARCH line that follows line `i` with nothing but one bare file path
    (or nothing) between them, else 0."""
    j = i
    while j < len(lines) and not lines[j].strip():
        j += 1
    if j < len(lines) and _bare_path(lines[j]) is not None:
        j += 1
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j if j < len(lines) and SEARCH.match(lines[j]) else 0


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


@dataclass(frozen=True)
class Applied:
    """The new contents of every file a patch touches, and where each block was applied."""

    files: dict[str, str]
    matches: tuple[Match, ...]  # one per block that edits an existing file, in order

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(m.rule for m in self.matches)


def apply(patch: Patch, files: Mapping[str, str]) -> dict[str, str]:
    """Return the new contents of every file the patch touches. `files` is left unchanged."""
    return apply_blocks(patch, files).files


def apply_blocks(patch: Patch, files: Mapping[str, str], generous: bool = False) -> Applied:
    """Apply each block where the ladder of `recursor.patch.match` puts it, in order (its
    generous rules only with `generous`); a block that fits no place, or more than one, is a
    PatchApplyError saying which and why."""
    out: dict[str, str] = {}
    matches: list[Match] = []
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
        m = locate(current, edit.search, edit.replace, edit.path, n, generous)
        matches.append(m)
        out[edit.path] = current[:m.start] + m.replacement + current[m.stop:]
    return Applied(out, tuple(matches))
