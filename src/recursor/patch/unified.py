"""Unified diffs (`git diff`, `diff -u`) read into the same edits as SEARCH/REPLACE blocks.

Each hunk becomes one edit: its context and removed lines are the text to find, its context and
added lines the replacement. Applying goes through `search_replace.apply`, so a diff gets the
same checks (the old text must occur exactly once) and the same errors as any other patch; line
numbers in the hunk headers are not trusted, which lets a diff made against a slightly different
copy still apply where its context is unique (and the applier's ladder, `recursor.patch.match`,
takes context that is off by whitespace, comments or a misremembered line). Hunks whose line
counts do not fit their body, or whose header has no numbers at all (``@@ ... @@``), are read by
their content, up to the next header.
"""

from __future__ import annotations

import re

from recursor.errors import PatchFormatError
from recursor.patch.search_replace import Edit, Patch
from recursor.patch.search_replace import parse as parse_blocks

HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
# models write "@@ ... @@" or "@@" alone, without numbers: read such hunks by their content
LOOSE_HUNK = re.compile(r"^@@(?: .*)?$")
NEW_FILE = re.compile(r"^\+\+\+ (\S+)")
OLD_FILE = re.compile(r"^--- (\S+)")


def looks_unified(text: str) -> bool:
    lines = text.splitlines()
    if any(HUNK.match(line) for line in lines):
        return True
    return (any(line.startswith("--- ") for line in lines)
            and any(line.startswith("+++ ") for line in lines)
            and any(LOOSE_HUNK.match(line) for line in lines))


def parse_unified(text: str) -> Patch:
    lines = text.splitlines()
    edits: list[Edit] = []
    old_path = new_path = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if (m := OLD_FILE.match(line)) and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old_path, new_path = _strip(m.group(1)), _strip(NEW_FILE.match(lines[i + 1]).group(1))
            if new_path is None:
                raise PatchFormatError(f"the diff deletes {old_path}; a patch may not delete files")
            i += 2
            continue
        if HUNK.match(line) or LOOSE_HUNK.match(line):
            if new_path is None:
                raise PatchFormatError(f"line {i + 1}: a hunk before any '---'/'+++' file header")
            m = HUNK.match(line)
            start = i + 1
            try:
                if m is None:
                    raise _Miscounted
                old, new, i = _hunk(lines, start, (int(m.group(1) or 1), int(m.group(2) or 1)))
                if i < len(lines) and _is_body(lines[i]):
                    raise _Miscounted  # counts too small: the hunk goes on
            except _Miscounted:
                # counts that do not fit the body (models miscount): the body says where it ends
                old, new, i = _hunk_by_content(lines, start)
            edits.append(Edit(new_path, "" if old_path is None else old, new))
            continue
        i += 1
    if not edits:
        raise PatchFormatError("no hunk found: a unified diff has '--- a/FILE', '+++ b/FILE' and "
                               "'@@ -l,n +l,n @@' lines, as `git diff` writes them")
    return Patch(tuple(edits))


def _strip(path: str) -> str | None:
    if path == "/dev/null":
        return None
    return path[2:] if path[:2] in ("a/", "b/") else path


def _hunk(lines: list[str], i: int, counts: tuple[int, int]) -> tuple[str, str, int]:
    """The old and new text of the hunk starting at line i. The header's line counts say where
    it ends: a removed line that reads "-- x" shows as "--- x" and an added "++ y" as "+++ y",
    which only the counts tell from the next file's header."""
    want_old, want_new = counts
    old: list[str] = []
    new: list[str] = []
    n_old = n_new = 0
    while i < len(lines) and (n_old < want_old or n_new < want_new):
        line = lines[i]
        if line.startswith("\\"):  # "\ No newline at end of file"
            i += 1
            continue
        tag, body = (line[:1], line[1:]) if line else (" ", "")  # a blank context line, trimmed
        if tag == " ":
            old.append(body)
            new.append(body)
            n_old, n_new = n_old + 1, n_new + 1
        elif tag == "-":
            old.append(body)
            n_old += 1
        elif tag == "+":
            new.append(body)
            n_new += 1
        else:
            raise _Miscounted  # prose or a header before the counts were reached
        i += 1
    if n_old < want_old or n_new < want_new:
        raise PatchFormatError(f"the diff is cut off: its last hunk has {n_old} of {want_old} old "
                               f"and {n_new} of {want_new} new lines")
    while i < len(lines) and lines[i].startswith("\\"):
        i += 1
    return _text(old), _text(new), i


class _Miscounted(Exception):
    """A hunk's header counts do not fit its body; it is read by content instead."""


def _is_body(line: str) -> bool:
    return (line[:1] in (" ", "+", "-") and len(line) > 1 and not line.startswith(("--- ", "+++ "))
            and not HUNK.match(line))


def _hunk_by_content(lines: list[str], i: int) -> tuple[str, str, int]:
    """A hunk read up to the next hunk or file header, or the first line that is no diff line;
    trailing blank lines are left out (a model's blank line after the diff is no context)."""
    old: list[str] = []
    new: list[str] = []
    while i < len(lines):
        line = lines[i]
        if (HUNK.match(line) or LOOSE_HUNK.match(line) or line.startswith("diff ")
                or (line.startswith("--- ") and i + 1 < len(lines)
                    and lines[i + 1].startswith("+++ "))):
            break
        if line.startswith("\\"):
            i += 1
            continue
        tag, body = (line[:1], line[1:]) if line else (" ", "")
        if tag not in " +-":
            break
        if tag in " -":
            old.append(body)
        if tag in " +":
            new.append(body)
        i += 1
    while old and new and not old[-1].strip() and not new[-1].strip():
        old.pop()
        new.pop()
    if not old and not new:
        raise PatchFormatError(f"line {i + 1}: an empty hunk")
    return _text(old), _text(new), i


def _text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def parse_any(text: str, default_path: str | None = None) -> Patch:
    """A unified diff or SEARCH/REPLACE blocks, whichever `text` is; `default_path` is the
    file of a block that names none."""
    return parse_unified(text) if looks_unified(text) else parse_blocks(text, default_path)
