"""Unified diffs between two versions of a program, as `git diff` writes them."""

from __future__ import annotations

import difflib
from collections.abc import Mapping


def unified_diff(old: Mapping[str, str], new: Mapping[str, str], context: int = 3) -> str:
    """A diff from `old` to `new` (path -> text) that `git apply` and `patch -p1` accept."""
    chunks: list[str] = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        a = f"a/{path}" if before is not None else "/dev/null"
        b = f"b/{path}" if after is not None else "/dev/null"
        chunks.append(f"diff --git a/{path} b/{path}\n")
        lines = difflib.unified_diff(
            (before or "").splitlines(keepends=True),
            (after or "").splitlines(keepends=True),
            fromfile=a,
            tofile=b,
            n=context,
        )
        for line in lines:
            chunks.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(chunks)
