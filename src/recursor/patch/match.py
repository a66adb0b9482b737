"""Where a SEARCH text belongs in a file: the applier's ladder of rules.

Models quote code the way people do: with the indentation shifted, a trailing comment left off,
a blank line missing, the middle of a long block elided with `...`, a number misremembered. A
careful reviewer still knows which lines are meant when exactly one place fits; so does the
applier, trying these rules in order and stopping at the first that finds a place:

1. ``exact``: the SEARCH text occurs once in the file, character for character, from the start
   of a line's code (its indentation may be left out).
2. ``trailing-whitespace``: line for line, equal up to trailing spaces and tabs.
3. ``indentation``: line for line, equal up to leading and trailing whitespace; the REPLACE
   text is re-indented by the same shift.
4. ``comments``: equal once comments, blank lines and whitespace are set aside (Python
   comments found by `tokenize`; ``//`` comments in C, C++ and CUDA files).
5. ``module-self``: in a Python file, equal as rule 4 once a ``self.`` the SEARCH puts before a
   name is set aside, at lines of the module's top level only: there an attribute can only be a
   misquote of the module's setting (``self.block_size = 64`` for ``block_size = 64``), and the
   REPLACE text's ``self.`` before those names goes too, or the program stops with a NameError.
6. ``stale-value``: in a Python file, SEARCH lines that each set a module-level name to a
   constant (``block_size = 64``), standing where the file sets those same names, once each, on
   consecutive top-level lines, to other constants (``block_size = 32``): the model quoted a
   value it read elsewhere (a parent's, or a hypothesis in the run's history), and the names say
   which lines it means. The REPLACE text says what they become; a name it repeats unchanged
   from SEARCH keeps the file's value. Names set more than once, or set to anything but
   constants, are left to the fuzzy rule.
7. ``elision``: SEARCH lines reading ``...`` (or ``# ...``, ``// ... existing code ...``) stand
   for lines left out; each quoted piece is found in order, and the REPLACE text must elide at
   the same places, so that what was left out is kept.
8. ``fuzzy``: the most similar run of file lines (`rapidfuzz`'s normalised Indel similarity of
   the stripped lines) scores at least `FUZZY_MIN`, and no other place comes within
   `FUZZY_MARGIN` of it.

A rule that fits more than one place is an error naming the places, never a guess, and a looser
rule is not tried after it. Rules 3-8 are for a model's patch (`generous`); the library's ideas
and a person's diff get rules 1-2, as they are exact by contract. Each match says which rule
found it and where, and is recorded with the node, so a reader sees which patches were taken
as written and which were read generously.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from recursor.errors import PatchApplyError

RULES = ("exact", "trailing-whitespace", "indentation", "comments", "module-self",
         "stale-value", "elision", "fuzzy")
FUZZY_MIN = 90.0  # rapidfuzz ratio, 0-100: one changed number on a line of 20 characters
FUZZY_MARGIN = 4.0  # a second place this close to the best makes the match ambiguous
NEAREST_MIN = 60.0  # below this the nearest lines are not worth quoting: a small model copied
# a 43%-similar docstring line it was shown into its next SEARCH
SUGGEST_MIN = 60.0  # from this on, the error writes the block again with the nearest lines
ELISION = re.compile(r"^\s*(?:#|//|/\*)?\s*(?:\.\.\.|…)")
C_LIKE = (".c", ".cc", ".cpp", ".cxx", ".cu", ".cuh", ".h", ".hpp")


@dataclass(frozen=True)
class Match:
    """Where one block's SEARCH text was found, by which rule, and what goes in its place."""

    rule: str
    path: str
    block: int
    start: int  # character offsets of the replaced span in the file
    stop: int
    first_line: int  # 1-based, inclusive
    last_line: int
    replacement: str  # the REPLACE text as it goes in: re-indented, elided lines kept
    score: float = 100.0  # the fuzzy rule's similarity; 100 for the others
    note: str = ""  # what the rule read differently, when the reader should know

    def describe(self) -> str:
        where = (f"line {self.first_line}" if self.first_line == self.last_line
                 else f"lines {self.first_line}-{self.last_line}")
        score = f", {self.score:.0f}% similar" if self.rule == "fuzzy" else ""
        note = f" ({self.note})" if self.note else ""
        return f"block {self.block} ({self.path}): {self.rule}, {where}{score}{note}"

    def record(self) -> dict:
        """What the node keeps of it: enough to count rules and find the lines."""
        out = {"block": self.block, "path": self.path, "rule": self.rule,
               "lines": [self.first_line, self.last_line], "score": round(self.score, 1)}
        return out | ({"note": self.note} if self.note else {})


def locate(text: str, search: str, replace: str, path: str, block: int,
           generous: bool = False) -> Match:
    """The one place of `text` that `search` stands for, or a PatchApplyError saying why none
    is (not found, with the nearest lines; or ambiguous, with the places). Only the first two
    rules unless `generous`: the library's ideas and a person's diff are exact by contract
    (alternatives in the library exclude each other by their quoted lines, comments included,
    and a diff made against another version must not land); a model's patch, quoted from
    memory, gets the whole ladder."""
    count = text.count(search)
    if count == 1 and _at_line_start(text, text.index(search), search):
        start = text.index(search)
        first = text.count("\n", 0, start) + 1
        return Match("exact", path, block, start, start + len(search), first,
                     first + max(search.count("\n") - (search.endswith("\n")), 0), replace)
    if count > 1 and search.strip():
        lines = _line_numbers_of(text, search)
        raise PatchApplyError(
            f"block {block}: the SEARCH text occurs {count} times in {path} (at lines "
            f"{', '.join(map(str, lines))}); include more surrounding lines so that it matches "
            "exactly one place")
    file = _Lines(text, path)
    want = _trim_blank(search.splitlines())
    if not want:
        raise PatchApplyError(f"block {block}: the SEARCH text for {path} is blank")
    has_elision = any(ELISION.match(line) for line in want)
    rules = (("trailing-whitespace", str.rstrip, False),
             ("indentation", str.strip, False),
             ("comments", None, True))
    for rule, key, skip in rules if generous else rules[:1]:
        if has_elision and generous:
            break  # an elided block matches no run of lines as it stands
        spans = file.find(want, key, skip)
        if len(spans) == 1:
            a, b = spans[0]
            return file.match(rule, block, a, b, _rewrite(replace, want, file.lines[a:b], path))
        if len(spans) > 1:
            raise _ambiguous(block, path, rule, spans)
    if generous and not has_elision:
        found = (_module_self(file, want, replace, block)
                 or _stale_value(file, want, replace, block))
        if found is not None:
            return found
    if has_elision and generous:
        return _elided(file, want, replace, path, block)
    return _fuzzy(file, want, replace, path, block, generous)


def _module_self(file: _Lines, want: list[str], replace: str, block: int) -> Match | None:
    """Rule 5: SEARCH lines with their `self.` set aside, found at the module's top level."""
    if not file.path.endswith(".py"):
        return None
    bare = [_no_self(line) for line in want]
    if bare == want:
        return None
    spans = [(a, b) for a, b in file.find(bare, None, True)
             if not any(line[:1].isspace() for line in file.bare[a:b] if line.strip())]
    if len(spans) > 1:
        raise _ambiguous(block, file.path, "module-self", spans)
    if not spans:
        return None
    a, b = spans[0]
    text = _rewrite(replace, bare, file.lines[a:b], file.path)
    fixed = "".join(_no_self(line) if not line[:1].isspace() else line
                    for line in text.splitlines(keepends=True))
    return file.match("module-self", block, a, b, fixed)


def _stale_value(file: _Lines, want: list[str], replace: str, block: int) -> Match | None:
    """Rule 6: SEARCH lines setting module-level names to constants, where the file sets the
    same names, once each and in the same order on consecutive lines, to other constants."""
    if not file.path.endswith(".py"):
        return None
    quotes = [_no_self(c.strip()) for c in code_parts(list(want), file.path) if c.strip()]
    quoted = [_setting(q) for q in quotes]
    if not quoted or None in quoted:
        return None
    names = [q[0] for q in quoted]
    if len(set(names)) != len(names):
        return None
    where: dict[str, list[int]] = {}
    settings: dict[int, tuple[str, str]] = {}  # line -> the setting the file makes there
    for i, code in enumerate(file.code):
        if code[:1].strip():  # top level: the module's own settings
            setting = _setting(code.strip())
            if setting is not None and setting[0] in names:
                where.setdefault(setting[0], []).append(i)
                settings[i] = setting
    if any(len(where.get(n, ())) != 1 for n in names):
        return None
    lines = [where[n][0] for n in names]
    if lines != list(range(lines[0], lines[0] + len(lines))):
        return None
    a, b = lines[0], lines[-1] + 1
    differs = [f"{q} for {file.code[i].strip()}"
               for q, i, s in zip(quotes, lines, quoted, strict=True) if settings[i] != s]
    if not differs:
        return None  # the same settings, which the rules before judge
    bare = [_no_self(line.strip()) for line in want if line.strip()]
    text = _rewrite(replace, bare, file.lines[a:b], file.path)
    # a line that sets a name to the value the file has is the file's line, comment and all:
    # else a block that changes no value would still change the file, and run as an idea
    have = {settings[i]: file.lines[i] for i in lines}
    out = []
    for line in text.splitlines(keepends=True):
        if not line[:1].isspace():
            line = _no_self(line)
            kept = have.get(_setting(code_parts([line.rstrip("\r\n")], file.path)[0].strip()))
            line = kept if kept is not None else line
        out.append(line)
    return file.match("stale-value", block, a, b, "".join(out),
                      note="SEARCH quoted " + "; ".join(differs))


_CONSTANT_NODES = (ast.Expression, ast.Constant, ast.UnaryOp, ast.BinOp, ast.Tuple, ast.List,
                   ast.Load, ast.operator, ast.unaryop)


def _setting(code: str) -> tuple[str, str] | None:
    """(name, value) of a line `name = constant` (a number, string, tuple of them, or
    arithmetic on them), its value as `ast` spells it; None for any other line."""
    target, eq, value = code.partition("=")
    name = target.split(":")[0].strip()
    if not eq or value.startswith("=") or not name.isidentifier():
        return None
    try:
        tree = ast.parse(value.strip(), mode="eval")
    except SyntaxError:
        return None
    if not all(isinstance(node, _CONSTANT_NODES) for node in ast.walk(tree)):
        return None
    return name, ast.unparse(tree)


def _no_self(line: str) -> str:
    """`line` without a `self.` before its first name (its indentation kept)."""
    code = line.lstrip()
    return line[:len(line) - len(code)] + code[5:] if code.startswith("self.") else line


def _at_line_start(text: str, start: int, search: str) -> bool:
    """Whether a match at `start` begins a line's code: `lr = 1e-3` found inside
    `min_lr = 1e-3` is another line, which the line rules below judge instead."""
    line_start = text.rfind("\n", 0, start) + 1
    return not text[line_start:start].strip() or not search[:1].isalnum() and search[:1] != "_"


class _Lines:
    """A file as lines, with their offsets and their comment-free forms."""

    def __init__(self, text: str, path: str):
        self.text, self.path = text, path
        self.lines = text.splitlines(keepends=True)
        self.bare = [line.rstrip("\r\n") for line in self.lines]
        self.offsets = [0]
        for line in self.lines:
            self.offsets.append(self.offsets[-1] + len(line))
        self._code: list[str] | None = None

    @property
    def code(self) -> list[str]:
        if self._code is None:
            self._code = code_parts(self.bare, self.path)
        return self._code

    def find(self, want: Sequence[str], key: Callable[[str], str] | None,
             skip_empty: bool) -> list[tuple[int, int]]:
        """[start, stop) line ranges whose lines equal `want` under `key`; with `skip_empty`,
        comparing code parts and passing over blank and comment-only lines on both sides."""
        if not skip_empty:
            keys = [key(line) for line in self.bare]
            wanted = [key(line) for line in want]
            n = len(wanted)
            return [(i, i + n) for i in range(len(keys) - n + 1) if keys[i:i + n] == wanted]
        kept = [(i, c.strip()) for i, c in enumerate(self.code) if c.strip()]
        wanted = [c.strip() for c in code_parts(list(want), self.path) if c.strip()]
        if not wanted:
            return []
        keys = [k for _, k in kept]
        n = len(wanted)
        return [(kept[i][0], kept[i + n - 1][0] + 1)
                for i in range(len(keys) - n + 1) if keys[i:i + n] == wanted]

    def match(self, rule: str, block: int, a: int, b: int, replacement: str,
              score: float = 100.0, note: str = "") -> Match:
        span_ends_line = self.lines[b - 1].endswith("\n")
        if replacement and span_ends_line and not replacement.endswith("\n"):
            replacement += "\n"
        return Match(rule, self.path, block, self.offsets[a], self.offsets[b], a + 1, b,
                     replacement, score, note)


def _trim_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _rewrite(replace: str, want: Sequence[str], found: Sequence[str], path: str) -> str:
    """The REPLACE text as it goes into the file: shifted like the file's lines, and its context
    lines (those it repeats from SEARCH) taken as the file has them, comments and spacing
    included: a quote that left a comment off must not delete the comment, and a line quoted
    wrongly (`def gelu` where the file says `def forward`) that REPLACE keeps as quoted is
    context too, not a change the model asked for."""
    rep = _reindent(replace, want, found).splitlines(keepends=True)
    want_code = [c.strip() for c in code_parts(list(want), path)]
    found_code = [c.strip() for c in code_parts([f.rstrip("\r\n") for f in found], path)]
    to_file: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=want_code, b=found_code,
                                                       autojunk=False).get_opcodes():
        # equal lines, and lines misquoted in place (as many quoted as the file has there)
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            to_file.update({i1 + k: j1 + k for k in range(i2 - i1)})
    out: list[str] = []
    ops = difflib.SequenceMatcher(a=[w.strip() for w in want],
                                  b=[r.strip() for r in rep], autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in ops:
        if tag != "equal":
            out += rep[j1:j2]
            continue
        for k in range(i2 - i1):
            f = to_file.get(i1 + k)
            line = found[f] if f is not None and want[i1 + k].strip() else rep[j1 + k]
            out.append(line if line.endswith("\n") or j1 + k == len(rep) - 1 else line + "\n")
    return "".join(out)


def _reindent(replace: str, want: Sequence[str], found: Sequence[str]) -> str:
    """`replace` shifted as the file's lines are shifted from the SEARCH lines: a model that
    quoted a method without its class's indentation writes its replacement the same way."""
    quoted = next((line for line in want if line.strip()), "")
    real = next((line.rstrip("\r\n") for line in found if line.strip()), "")
    have, need = _indent(quoted), _indent(real)
    if have == need:
        return replace
    out = []
    for line in replace.splitlines(keepends=True):
        if not line.strip():
            out.append(line)
        elif need.startswith(have):
            out.append(need[len(have):] + line)
        elif have.startswith(need) and line.startswith(have[len(need):]):
            out.append(line[len(have) - len(need):])
        else:
            out.append(line)
    return "".join(out)


def code_parts(lines: list[str], path: str) -> list[str]:
    """Each line without its comment: Python's from `tokenize` (a `#` inside a string is not a
    comment), C-like files' `//` comments by a scan that skips string literals."""
    if path.endswith(C_LIKE):
        return [_cut_line_comment(line, "//") for line in lines]
    if not path.endswith(".py"):
        return list(lines)
    cuts: dict[int, int] = {}
    source = "".join(line + "\n" for line in lines)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                cuts[tok.start[0] - 1] = tok.start[1]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # a fragment cut mid-statement: lines tokenize did not reach are scanned instead
        reached = max(cuts, default=-1)
        for i in range(reached + 1, len(lines)):
            cut = _cut_line_comment(lines[i], "#")
            if len(cut) < len(lines[i]):
                cuts[i] = len(cut)
    return [line[:cuts[i]] if i in cuts else line for i, line in enumerate(lines)]


def _cut_line_comment(line: str, mark: str) -> str:
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif line.startswith(mark, i):
            return line[:i]
        i += 1
    return line


def _elided(file: _Lines, want: list[str], replace: str, path: str, block: int) -> Match:
    pieces = _split_elided(want)
    targets = _split_elided(_trim_blank(replace.splitlines())) if replace.strip() else []
    if len(targets) != len(pieces):
        raise PatchApplyError(
            f"block {block}: the SEARCH text for {path} leaves lines out with '...', and the "
            f"REPLACE text does not elide at the same places ({len(pieces)} quoted pieces in "
            f"SEARCH, {len(targets)} in REPLACE), so the left-out lines would be lost. Quote the "
            "lines in full, or keep the same '...' lines in REPLACE")
    spans: list[tuple[int, int]] = []
    after = 0
    for n, piece in enumerate(pieces):
        found = None
        for key, skip in ((str.rstrip, False), (str.strip, False), (None, True)):
            hits = [s for s in file.find(piece, key, skip) if s[0] >= after]
            if hits and (n > 0 or len(hits) == 1):
                found = hits[0]  # the first after the previous piece: the reading order
                break
            if hits:
                raise _ambiguous(block, path, "elision", hits)
        if found is None:
            raise PatchApplyError(
                f"block {block}: the SEARCH text for {path} leaves lines out with '...', and its "
                f"piece {n + 1} was not found{' after the piece before it' if n else ''}:\n"
                + "\n".join(piece) + _nearest(file, piece))
        spans.append(found)
        after = found[1]
    out, cursor = [], spans[0][0]
    for (a, b), piece, target in zip(spans, pieces, targets, strict=True):
        out.append("".join(file.lines[cursor:a]))  # the elided lines, kept as they are
        new = "".join(line + "\n" for line in target)
        out.append(_rewrite(new, piece, file.lines[a:b], path))
        cursor = b
    return file.match("elision", block, spans[0][0], spans[-1][1], "".join(out))


def _split_elided(lines: Sequence[str]) -> list[list[str]]:
    pieces: list[list[str]] = [[]]
    for line in lines:
        if ELISION.match(line):
            pieces.append([])
        else:
            pieces[-1].append(line)
    return [p for p in (_trim_blank(p) for p in pieces) if p]


def _windows(file: _Lines, want: Sequence[str]) -> list[tuple[float, int, int]]:
    """(similarity, start, stop) of every run of file lines as long as `want`, one shorter and
    one longer (a line left out or added), best first."""
    quoted = "\n".join(line.strip() for line in want)
    quoted_code = "\n".join(c.strip() for c in code_parts(list(want), file.path))
    stripped = [line.strip() for line in file.bare]
    code = [c.strip() for c in file.code]
    n = len(want)
    scored = []
    for size in {max(1, n - 1), n, n + 1}:
        for i in range(len(stripped) - size + 1):
            # as written, and without comments: a quote that left a comment off is still near
            score = max(fuzz.ratio(quoted, "\n".join(stripped[i:i + size])),
                        fuzz.ratio(quoted_code, "\n".join(code[i:i + size])))
            scored.append((score, i, i + size))
    scored.sort(key=lambda s: (-s[0], s[1], s[2] - s[1] != n))
    return scored


def _fuzzy(file: _Lines, want: list[str], replace: str, path: str, block: int,
           allowed: bool) -> Match:
    scored = _windows(file, want)
    if allowed and scored and scored[0][0] >= FUZZY_MIN:
        best, a, b = scored[0]
        rival = next((s for s in scored[1:] if s[2] <= a or s[1] >= b), None)
        if rival is not None and rival[0] >= best - FUZZY_MARGIN:
            raise _ambiguous(block, path, "fuzzy", [(a, b), (rival[1], rival[2])])
        return file.match("fuzzy", block, a, b, _rewrite(replace, want, file.lines[a:b], path),
                          best)
    raise PatchApplyError(
        f"block {block}: the SEARCH text was not found in {path}; SEARCH must copy lines of "
        f"the current file{_nearest(file, want, scored, replace)}")


def _nearest(file: _Lines, want: Sequence[str], scored: list | None = None,
             replace: str | None = None) -> str:
    """The file's lines nearest to `want`, exactly as they stand, what differs, and (given the
    block's REPLACE text) the block written again with them."""
    scored = scored if scored is not None else _windows(file, want)
    if not scored or scored[0][0] < NEAREST_MIN:
        return ". No lines of the file are close to it: quote lines from the file as shown."
    score, a, b = scored[0]
    real = file.bare[a:b]
    where = f"line {a + 1}" if b - a == 1 else f"lines {a + 1}-{b}"
    out = [f". The nearest lines are {where} of {file.path} ({score:.0f}% similar), exactly:",
           "```", *real, "```"]
    differs = _first_difference(want, real)
    if differs:
        out.append(differs)
    if replace is not None and score >= SUGGEST_MIN and _same_code(file, a, b, replace):
        # the block rewritten with the real lines would change nothing: the model is making a
        # change its parent already has (a small model copies the lineage it read); a block
        # that does nothing would only come back
        out.append("Those lines already read as your REPLACE writes them: the file has this "
                   "change already (an earlier step made it). Do not send it again: propose a "
                   "change the file does not have yet.")
    elif replace is not None and score >= SUGGEST_MIN:
        out += ["Written with those lines, the block would read:",
                file.path, "<<<<<<< SEARCH", *real, "=======",
                *_module_level(file, a, b, replace.rstrip("\n").split("\n")), ">>>>>>> REPLACE"]
    return "\n".join(out)


def _module_level(file: _Lines, a: int, b: int, lines: list[str]) -> list[str]:
    """`lines` to stand where the file's lines a..b are; when those are all at module level of
    a Python file, without a `self.` before an unindented line's name: there it can only be a
    misquote, and a suggested block that kept it would stop the program with a NameError (the
    1.5B model sent such a block back, as shown, four times in one run)."""
    if not file.path.endswith(".py") or any(line[:1].isspace() for line in file.bare[a:b]):
        return lines
    return [line[5:] if line.startswith("self.") else line for line in lines]


def _same_code(file: _Lines, a: int, b: int, replace: str) -> bool:
    """Whether the file's lines a..b are `replace`, comments and indentation aside. In a
    Python file, a `self.` the REPLACE puts before a module-level line's name is aside too:
    at module level it can only be a misquote (a 1.5B model wrote `self.block_size = 32` for
    the `block_size = 32` its parent had, and was shown a block that would add the `self.`)."""
    mine = [c.strip() for c in code_parts(replace.rstrip("\n").split("\n"), file.path)]
    mine = [c for c in mine if c]
    theirs = [(c.strip(), not c[:1].isspace()) for c in file.code[a:b] if c.strip()]
    if len(mine) != len(theirs):
        return False
    python = file.path.endswith(".py")
    return all(m == t or (python and top and m.startswith("self.") and m[5:] == t)
               for m, (t, top) in zip(mine, theirs, strict=True))


def _first_difference(want: Sequence[str], real: Sequence[str]) -> str:
    for tag, i1, _, j1, _ in difflib.SequenceMatcher(a=list(want), b=list(real)).get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace":
            return (f"What differs: your SEARCH has {want[i1]!r} where the file has "
                    f"{real[j1]!r}.")
        if tag == "delete":
            return f"What differs: your SEARCH has {want[i1]!r}, which the file does not have there."
        return f"What differs: the file has {real[j1]!r} there, which your SEARCH leaves out."
    return ""


def _ambiguous(block: int, path: str, rule: str, spans: Sequence[tuple[int, int]]) -> PatchApplyError:
    places = ", ".join(f"line {a + 1}" if b - a == 1 else f"lines {a + 1}-{b}" for a, b in spans)
    return PatchApplyError(
        f"block {block}: the SEARCH text fits {len(spans)} places of {path} when compared "
        f"by the {rule} rule ({places}); include more surrounding lines, copied exactly, so "
        "that it fits exactly one place")


def _line_numbers_of(text: str, search: str) -> list[int]:
    out, at = [], text.find(search)
    while at != -1 and len(out) < 10:
        out.append(text.count("\n", 0, at) + 1)
        at = text.find(search, at + 1)
    return out
