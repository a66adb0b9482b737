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
UNCHANGED = "the patch changes nothing"
# a literal a setting is made of: a number, a string, a boolean or None, or a tuple or list
_CONSTANT = r"(?:[-+]?\.?\d|['\"]|True\b|False\b|None\b|[(\[])"
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


def _alternatives(names: Iterable[str]) -> str:
    return "|".join(sorted(map(re.escape, names), key=len, reverse=True))


def lines_setting(names: Iterable[str], files: Mapping[str, str], paths: Iterable[str],
                  most: int = 5) -> list[tuple[str, int, str]]:
    """(path, line number, line) for lines of `paths` that assign, define or declare one of
    `names` (case-insensitive), in file order, at most `most`. A plain word ("dropout",
    "model") counts only where it is set to a constant: as a name of any code it would point
    at everything a vague idea mentions (`model = GPT()`, `data = ...`)."""
    wanted = {n.lower() for n in names}
    compound = {n for n in wanted if "_" in n or any(c.isdigit() for c in n)}
    plain = wanted - compound
    patterns = []
    if compound:
        alts = _alternatives(compound)
        patterns.append(rf"^\s*(?:self\.)?(?:{alts})\s*(?::[^=]+)?=(?!=)"
                        rf"|^\s*(?:def|class)\s+(?:{alts})\b")
    if plain:
        patterns.append(rf"^\s*(?:self\.)?(?:{_alternatives(plain)})\s*(?::[^=]+)?=\s*{_CONSTANT}")
    if not patterns:
        return []
    alts = _alternatives(wanted)
    python = re.compile("|".join(patterns), re.IGNORECASE)
    c_like = re.compile(rf"^\s*#define\s+(?:{alts})\b"
                        rf"|^\s*(?:(?:const|static|constexpr|unsigned)\s+)*"
                        rf"(?!(?:return|if|while|for|else)\b)[A-Za-z_][\w:<>]*\s*\**\s+"
                        rf"(?:{alts})\b\s*(?:=(?!=)|[(;\[])", re.IGNORECASE)
    found: list[tuple[str, int, str]] = []
    for path in paths:
        setting = python if path.endswith(".py") else c_like
        for number, line in enumerate(files.get(path, "").splitlines(), 1):
            if setting.search(line):
                found.append((path, number, line))
                if len(found) >= most:
                    return found
    return found


def top_level_settings(files: Mapping[str, str], paths: Iterable[str],
                       most: int = 12) -> list[tuple[str, int, str]]:
    """(path, line number, line) of the module-level constants of the Python files in `paths`:
    the settings a change most often starts from."""
    constant = re.compile(rf"^[A-Za-z_]\w*\s*(?::[^=]+)?=\s*{_CONSTANT}")
    found = [(path, number, line) for path in paths if path.endswith(".py")
             for number, line in enumerate(files.get(path, "").splitlines(), 1)
             if constant.match(line)]
    return found[:most]


def named_lines(idea_text: str, files: Mapping[str, str], paths: Iterable[str]) -> str:
    """The lines that set what an idea names, one a line ("" when it names none of them): for a
    patch that crashed, where the idea's own setting lives (a 1.5B model that meant "a smaller
    block size" shrank the position embedding alone, and wrote that patch again when shown the
    IndexError)."""
    return shown(lines_setting(named(idea_text), files, list(paths)))


def shown(lines: list[tuple[str, int, str]]) -> str:
    """`lines` exactly as their files have them, a fence for each run of consecutive lines,
    headed by its file and line numbers. Listed as `train.py line 37: block_size = 64`, the
    1.5B model copied the `train.py line 37: ` into its SEARCH (four answers in the runs of
    2026-12-07)."""
    runs: list[tuple[str, int, list[str]]] = []
    for path, number, line in lines:
        if runs and runs[-1][0] == path and runs[-1][1] + len(runs[-1][2]) == number:
            runs[-1][2].append(line)
        else:
            runs.append((path, number, [line]))
    out = []
    for path, first, texts in runs:
        where = f"line {first}" if len(texts) == 1 else f"lines {first}-{first + len(texts) - 1}"
        out += [f"{path}, {where}:", "```", *texts, "```"]
    return "\n".join(out)


def unchanged_hint(idea_text: str, files: Mapping[str, str], paths: Iterable[str],
                   patch: str = "") -> str:
    """The message for a patch that changes nothing, with the lines its idea names, or, for an
    idea that names nothing in the files, the settings the files make at their top level.
    Given the `patch`, a block whose REPLACE differs from its SEARCH is told that the file has
    that change already: the 1.5B model re-made its parent's change ("Reduce block_size to
    16" on a parent at 16) seven times in one run, told each time, wrongly, that its REPLACE
    was its SEARCH."""
    paths = list(paths)
    blocks = len(_BLOCK.findall(patch))
    if blocks and len(unchanged_blocks(patch)) < blocks:
        message = (f"{UNCHANGED}: the code already reads as your REPLACE writes it, so an "
                   "earlier step of the run made this change (see how the parent was "
                   "reached). Propose a change the code does not have yet")
    else:
        message = (f"{UNCHANGED}: its REPLACE text is the same as its SEARCH text. "
                   "In SEARCH put only the lines your idea changes, copied exactly; in REPLACE "
                   "put those lines as they should become")
    lines = lines_setting(named(idea_text), files, paths)
    heading = "The lines that set what your idea names, as the code has them now"
    if not lines:
        lines = top_level_settings(files, paths)
        heading = "Your idea names nothing these files set; the settings they make at the top"
    if not lines:
        return message
    return f"{message}. {heading}:\n{shown(lines)}"


_BLOCK = re.compile(r"^<{3,9} ?SEARCH[^\n]*\n(.*?)^={5,9}[ \t]*\n(.*?)^>{3,9} ?REPLACE",
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
