"""The two checks on what a patch's literals carry: text of the task's data (memorisation) and
large opaque payloads (encoded, compressed, random-looking, or tables of numbers).

A literal here is every string or bytes constant the patch added (docstrings too: a program
can read its own `__doc__`), every list of numbers, and every expression that folds to one
(`"".join(parts)`, `lzma.decompress(base64.b85decode(...))`), decoded through every encoding
it carries, to any depth (`literals.layers`). Comments are not: the program cannot read them
without reading its own source, which the file check blocks.

Thresholds, and why:
- memorisation blocks a run of 64 bytes or more shared with a data file, or 8 runs of 32 bytes
  or more adding up to 384 bytes (many short quotes). Common English phrases run to 20-30
  bytes; 64 bytes of exact text (case and whitespace folded) do not happen by chance, and they
  are a quarter of one of tiny-lm's scored windows. A short quotation (a line of a play in a
  docstring or a prompt) stays below both.
- an opaque literal blocks from 256 characters (or 1024 numbers) on, whatever it decodes to: a
  base64/hex/base32/base85 string, a compressed stream, text of 5.6 bits per character or
  more (English prose and Shakespeare 4.3-4.9, C and Python source 4.5-4.8, base64 of random
  bytes 5.8-6.0, base85 6.2 and up), mostly non-printable bytes, or a table of numbers (as a
  list or as text). Below that size a literal is a hash, a key or a
  short lookup table (a few hundred numbers: a learning-rate schedule, a byte-class map), which
  an honest program may hold; above it nothing an honest training program needs is opaque.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from recursor.audit.code import Code
from recursor.audit.literals import MISSING, decodings, entropy, flat_numbers, layers, payload
from recursor.audit.memorisation import Corpus, Run
from recursor.store.records import Finding

LONG_RUN = 64  # bytes of data in one run: blocking
SHORT_RUN, MANY_RUNS, MANY_BYTES = 32, 8, 384  # or this many shorter runs, this long in all
OPAQUE_CHARS = 256  # an encoded or high-entropy literal this long blocks
OPAQUE_NUMBERS = 1024  # a table of this many numbers blocks
HIGH_ENTROPY = 5.6  # bits per character
PIECE = 4096  # strings shorter than this are also judged joined together
PRINTABLE = set(range(32, 127)) | {9, 10, 13}
NUMBER_TEXT = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def literals(code: Code) -> Iterator[tuple[ast.AST, object]]:
    """(node, value) of each literal the patch added: constants, and the largest expressions
    around them that fold to a string, bytes or a list."""
    for node in code.added:
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            yield node, node.value
        elif isinstance(node, ast.expr) and not isinstance(node, ast.Constant | ast.Name):
            parent = code.parents.get(node)
            if isinstance(parent, ast.expr) and code.fold(parent) is not MISSING:
                continue  # a part of a larger literal: judged as that
            value = code.fold(node)
            if isinstance(value, str | bytes | list | tuple):
                yield node, value


def check_opaque(code: Code) -> Iterator[Finding]:
    for node, value in literals(code):
        # the payload must be in the source itself: bytes(range(256)) computes, it stores nothing
        if _mass(node) < min(OPAQUE_CHARS, OPAQUE_NUMBERS):
            continue
        why = opaque(value)
        if why:
            yield Finding("static.opaque-literal", True,
                          f"The patch adds {why}. A payload the patch does not show in the clear "
                          "(encoded or compressed data, an embedded table of weights or text) "
                          "cannot be reviewed, and may hold what the program must learn: "
                          "training must start from the code, not from stored results.",
                          code.evidence(node))


def opaque(value) -> str | None:
    """Why a literal value is an opaque payload, or None."""
    numbers = flat_numbers(value)
    if numbers is not None:
        if len(numbers) >= OPAQUE_NUMBERS and len(set(numbers)) >= 16:
            return f"a table of {len(numbers):,} numbers"
        return None
    data = payload(value)
    if data is None or len(data) < OPAQUE_CHARS:
        return None
    for how, decoded in decodings(data):
        # base85 and ascii85 without their markers decode almost any text: entropy decides
        marked = how != "ascii85" or data.lstrip().startswith(b"<~")
        if how in ("hex", "base64", "base32", "ascii85", "compressed") and marked and len(
                decoded) * 4 >= len(data):
            return f"a {len(data):,}-byte literal that is {how} data"
    if isinstance(value, str) and len(value) >= OPAQUE_CHARS and entropy(value) >= HIGH_ENTROPY:
        return f"a {len(value):,}-character literal of random-looking text"
    if isinstance(value, bytes) and entropy(value) >= HIGH_ENTROPY:
        return f"a {len(value):,}-byte literal of random-looking bytes"
    if sum(b not in PRINTABLE for b in data) * 4 >= len(data):
        return f"a {len(data):,}-byte literal of mostly unprintable bytes"
    if len(NUMBER_TEXT.findall(data)) >= OPAQUE_NUMBERS:
        return "a table of numbers written as text"
    return None


def _mass(node: ast.AST) -> int:
    """How much literal data the source of `node` holds: characters of its strings and bytes,
    plus one per number."""
    return sum(len(n.value) if isinstance(n.value, str | bytes) else 1
               for n in ast.walk(node) if isinstance(n, ast.Constant))


def check_memorisation(code: Code, corpus: Corpus | None) -> Iterator[Finding]:
    if corpus is None or corpus.index() is None:
        return
    found: list[tuple[ast.AST, str, list[Run]]] = []
    for node, value in _with_blob(code):
        data = payload(value)
        if data is None or len(data) < SHORT_RUN:
            continue
        for how, layer in layers(data):
            runs = corpus.find(layer, SHORT_RUN)
            if _memorised(runs):
                found.append((node, how, runs))
                break
    for node, how, runs in found:
        best = max(runs, key=lambda r: r.length)
        total = _covered(runs)
        via = "" if how == "literal" else f" once decoded ({how.replace('>', ', then ')})"
        yield Finding("static.memorisation", True,
                      f"The patch embeds text of the task's data{via}: {total:,} bytes in "
                      f"{len(runs)} run(s), the longest {best.length:,} bytes of {best.file} "
                      f"from byte {best.offset:,}. A program must learn from the bytes the "
                      "harness hands it; text stored in the code is memorised, not learned, "
                      "and may be the very text it is scored on.", code.evidence(node))


def _memorised(runs: list[Run]) -> bool:
    longest = max((r.length for r in runs), default=0)
    return longest >= LONG_RUN or (len(runs) >= MANY_RUNS and _covered(runs) >= MANY_BYTES)


def _covered(runs: list[Run]) -> int:
    """Bytes of the literal inside some run (a text repeated in the data counts once)."""
    covered, end = 0, 0
    for run in sorted(runs, key=lambda r: r.at):
        start, stop = max(run.at, end), run.at + run.length
        covered += max(0, stop - start)
        end = max(end, stop)
    return covered


def _with_blob(code: Code) -> Iterator[tuple[ast.AST, object]]:
    """The literals, then all the added strings joined in order (a payload split across many
    small literals is judged whole)."""
    pieces: list[tuple[ast.AST, str]] = []
    for node, value in literals(code):
        yield node, value
        if isinstance(value, str) and isinstance(node, ast.Constant) and len(value) < PIECE:
            pieces.append((node, value))
    if len(pieces) > 1:
        yield pieces[0][0], "".join(v for _, v in pieces)
