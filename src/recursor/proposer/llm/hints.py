"""Pointers for a model whose patch changes nothing: the lines that set what its idea names.

A small model that means "use a smaller block size" often quotes a whole class in SEARCH and
writes it back unchanged in REPLACE. Telling it that the patch changes nothing is not enough
(asked again, it writes the same); showing it the line `block_size = 64` is. The names are
read from the idea's own words: identifiers it writes (`block_size`, `n_embd`) and runs of
two or three words joined the way code joins them ("block size" -> `block_size`, "learning
rate" -> `learning_rate`, "weight decay" -> `weight_decay`). A line is pointed at when it
assigns or defines one of those names (Python), or defines or declares it (other files: C, C++,
CUDA).

A cut-off answer is the other form of the same habit: the model copies long stretches of the
file, often unchanged, until the token limit. `unchanged_blocks` finds the complete blocks of
such an answer whose REPLACE equals their SEARCH, so the message can say what went wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMON = frozenset({"the", "a", "an", "to", "of", "in", "and", "or", "for", "by", "with",
                     "use", "using", "lower", "higher", "smaller", "larger", "more", "less",
                     "will", "is", "be", "it", "this", "that", "from", "on", "at", "as"})


def named(text: str) -> set[str]:
    """The identifiers a piece of prose may mean: its own identifiers and its short word runs
    joined by underscores, all lower-cased; common words alone are left out."""
    words = [w.lower() for w in _WORD.findall(text)]
    names = {w for w in words if w not in _COMMON and len(w) > 2}
    for size in (2, 3):
        for i in range(len(words) - size + 1):
            run = words[i:i + size]
            if not any(w in _COMMON for w in run):
                names.add("_".join(run))
    return names


def lines_setting(names: Iterable[str], files: Mapping[str, str], paths: Iterable[str],
                  most: int = 5) -> list[tuple[str, int, str]]:
    """(path, line number, line) for lines of `paths` that assign, define or declare one of
    `names` (case-insensitive), in file order, at most `most`."""
    wanted = {n.lower() for n in names}
    if not wanted:
        return []
    alternatives = "|".join(sorted(map(re.escape, wanted), key=len, reverse=True))
    python = re.compile(rf"^\s*(?:self\.)?(?:{alternatives})\s*(?::[^=]+)?=(?!=)"
                        rf"|^\s*(?:def|class)\s+(?:{alternatives})\b", re.IGNORECASE)
    c_like = re.compile(rf"^\s*#define\s+(?:{alternatives})\b"
                        rf"|^\s*(?:(?:const|static|constexpr|unsigned)\s+)*"
                        rf"(?!(?:return|if|while|for|else)\b)[A-Za-z_][\w:<>]*\s*\**\s+"
                        rf"(?:{alternatives})\b\s*(?:=(?!=)|[(;\[])", re.IGNORECASE)
    found: list[tuple[str, int, str]] = []
    for path in paths:
        setting = python if path.endswith(".py") else c_like
        for number, line in enumerate(files.get(path, "").splitlines(), 1):
            if setting.search(line):
                found.append((path, number, line))
                if len(found) >= most:
                    return found
    return found


def unchanged_hint(idea_text: str, files: Mapping[str, str], paths: Iterable[str]) -> str:
    """The message for a patch that changes nothing, with the lines its idea names."""
    message = ("the patch changes nothing: its REPLACE text is the same as its SEARCH text. "
               "In SEARCH put only the lines your idea changes, copied exactly; in REPLACE "
               "put those lines as they should become")
    lines = lines_setting(named(idea_text), files, paths)
    if not lines:
        return message
    shown = "\n".join(f"  {path} line {number}: {line.strip()}" for path, number, line in lines)
    return f"{message}. The lines that set what your idea names:\n{shown}"


_BLOCK = re.compile(r"^<{5,9} ?SEARCH[^\n]*\n(.*?)^={5,9}[ \t]*\n(.*?)^>{5,9} ?REPLACE",
                    re.MULTILINE | re.DOTALL)


def unchanged_blocks(text: str) -> list[tuple[int, int]]:
    """(block number, lines) of the complete SEARCH/REPLACE blocks in `text` whose REPLACE
    text equals their SEARCH text."""
    found = []
    for number, block in enumerate(_BLOCK.finditer(text), 1):
        search, replace = block.group(1), block.group(2)
        if search.strip() and search.strip() == replace.strip():
            found.append((number, len(search.strip().splitlines())))
    return found
