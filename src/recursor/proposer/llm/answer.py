"""What a researcher must answer, and reading it back.

The answer is plain text with labelled fields and SEARCH/REPLACE blocks, the format every
proposer uses (and the one coding models are trained on in aider's and others' tools):

    TITLE: one line
    CATEGORY: one of CATEGORIES
    HYPOTHESIS: what will happen to the metric, and why
    RATIONALE: the mechanism, the source
    PATCH:
    train.py
    <<<<<<< SEARCH
    ...
    =======
    ...
    >>>>>>> REPLACE

Models wrap things in code fences and Markdown; reading is lenient about those and strict about
what matters (a title and a patch), and says exactly what is missing, since the message goes
back to the model for repair. Small models often give the whole new file instead of a patch:
one fenced block of code in the PATCH section is taken as the new text of the task's one
editable Python file when it defines everything that file defines (`whole_file_patch`). A task
whose one editable file is short (`WHOLE_FILE_LINES`: a kernel's solution.py) asks for that
form outright (`answer_format(whole=...)`): nothing to quote, so nothing to misquote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recursor.patch.search_replace import SEARCH

CATEGORIES = ("architecture", "optimizer", "schedule", "hyperparameter", "initialization",
              "regularization", "data", "systems", "other")
# a kernel task's ideas are told apart by how the operation is made faster (the categories of
# its library's ideas), not by the training categories above
KERNEL_CATEGORIES = ("cpu-kernel", "rewrite", "triton", "cuda", "other")
FIELDS = ("TITLE", "CATEGORY", "HYPOTHESIS", "RATIONALE", "PATCH")

WHOLE_FILE_LINES = 80  # an editable file this short is asked for whole, not as a patch


def answer_format(categories: tuple[str, ...] = CATEGORIES, whole: str | None = None) -> str:
    """What the model is asked to answer, with the categories of the task's family: a patch, or
    with `whole` (a file name) the whole new text of that file."""
    head = f"""\
Answer with exactly one idea, in this format (plain text; no other sections):

TITLE: <the change you make, in a few words (not the task's goal)>
CATEGORY: <one of: {', '.join(categories)}>
HYPOTHESIS: <what will happen to the metric, by about how much, and why>
RATIONALE: <the mechanism; cite the paper or project it comes from, if any>
PATCH:
"""
    if whole is not None:
        return head + f"""\
```python
<the whole new {whole}, as it should read with your change: every line of it, the imports and
every class and function it defines, nothing elided>
```

{whole} is short, so you write all of it: no SEARCH/REPLACE blocks. Write the file as it should
be after your change, with the change made; keep what your idea does not touch as it is."""
    return head + """\
<file name>
<<<<<<< SEARCH
<only the lines you change, copied exactly from the current file (often 1 to 5 lines)>
=======
<those lines as they should become>
>>>>>>> REPLACE

A patch may hold several blocks, for one or more editable files; each SEARCH must match the
current file exactly once, whitespace included. Never copy a whole class or function into
SEARCH to change one line of it: quote that line (and one line around it, if it is not
unique). Keep the change small and focused on the idea."""


FORMAT = answer_format()

_LABEL = re.compile(r"^\s*(?:[*#>\-\s]*)\**\s*(" + "|".join(FIELDS) + r")\s*\**\s*:\s*(.*)$",
                    re.IGNORECASE)
_FENCE = re.compile(r"^\s*```[\w+-]*\s*$")
_FILE_NAME = re.compile(r"[\w./-]+\.(?:py|c|cc|cpp|cu|h)")


class AnswerError(ValueError):
    """The answer cannot be used as it is; the message says what to fix."""


class PlaceholderPatch(AnswerError):
    """The PATCH section is the format's example, its placeholders in place of code."""


# the format's placeholders, which a lost small model copies as its patch (3 answers in the
# 196 calls of the recorded tiny-lm runs, each after being asked for another direction)
PLACEHOLDERS = ("<only the lines you change", "<those lines as they should become>",
                "<the whole new ")


@dataclass(frozen=True)
class Answer:
    title: str
    category: str
    hypothesis: str
    rationale: str
    patch: str  # SEARCH/REPLACE blocks or a unified diff; "" when `code` is given instead
    code: str | None = None  # a whole file given in place of a patch (see whole_file_patch)
    settings: tuple[str, ...] = ()  # `name = value` lines alone in place of a patch


def parse_answer(text: str, categories: tuple[str, ...] = CATEGORIES,
                 form: str = FORMAT) -> Answer:
    """The answer's fields; an AnswerError saying what is missing, then `form` (the format the
    model was asked for). Code after PATCH: with no block is kept as `code`: a whole file."""
    fields: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = _LABEL.match(line) if current != "PATCH" else None
        if m:
            current = m.group(1).upper()
            fields.setdefault(current, []).append(m.group(2))
        elif current is not None:
            fields[current].append(line)
    missing = [f for f in ("TITLE", "PATCH") if not "".join(fields.get(f, [])).strip()]
    if missing:
        raise AnswerError(f"the answer has no {' and no '.join(missing)} section. " + form)
    patch_lines = [ln for ln in fields["PATCH"] if not _FENCE.match(ln)]
    if any(line.strip().startswith(PLACEHOLDERS) for line in patch_lines):
        raise PlaceholderPatch(
            "its PATCH is the format's example, with the placeholders ('<only the lines you "
            "change ...>') where code goes: in SEARCH write the lines of the file your idea "
            "changes, exactly as the file has them, and in REPLACE what they become")
    patch = "\n".join(patch_lines).strip("\n") + "\n"
    code, settings = None, ()
    blocks = any(SEARCH.match(line) for line in patch_lines)
    if not blocks and not patch.lstrip().startswith(("---", "diff ")):
        settings = _settings(_in_fences(fields["PATCH"]))
        code = None if settings else _fenced_code(fields["PATCH"]) or _bare_code(patch)
        if settings:
            patch = ""
        elif code is None:
            what = "no SEARCH/REPLACE block" if form == FORMAT else "no code"
            raise AnswerError(f"the PATCH section holds {what}. " + form)
        patch = ""
    category = " ".join(fields.get("CATEGORY", [])).strip().lower().strip("*` .")
    return Answer(
        title=_clean(fields["TITLE"])[:200],
        category=category if category in categories else "other",
        hypothesis=_clean(fields.get("HYPOTHESIS", [])),
        rationale=_clean(fields.get("RATIONALE", [])),
        patch=patch,
        code=code,
        settings=settings,
    )


# a line naming where code goes, not code: `train.py`, `train.py, line 34:`, `# train.py`
_WHERE = re.compile(r"^\s*#?\s*[\w./-]+\.(?:py|c|cc|cpp|cu|h)\s*(?:,?\s*lines?\s+[\d-]+)?\s*:?\s*$")


def _in_fences(lines: list[str]) -> list[str]:
    """The lines inside the code fences of `lines`, or all of them when there are none: the
    prose a model writes after its fenced code is not code."""
    if not any(_FENCE.match(line) for line in lines):
        return lines
    inside, out = False, []
    for line in lines:
        if _FENCE.match(line):
            inside = not inside
        elif inside:
            out.append(line)
    return out


# the middle and end markers of a block, standing without its SEARCH marker
_MARK = re.compile(r"^(?:={5,}|>{3,9}\s*REPLACE)$")


def _settings(lines: list[str]) -> tuple[str, ...]:
    """The PATCH section's lines when each is `name = constant` (besides blank lines, comments,
    lines naming the file and a block's markers without its SEARCH): settings written as they
    should become, with no SEARCH/REPLACE (a 1.5B model wrote `n_layer = 6` under `train.py,
    line 34:`, copying how the lines it was shown were headed, and `learning_rate = 3e-4` after
    a lone `=======`). Empty when any line is something else."""
    import ast

    found = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#") or _WHERE.match(line) or _MARK.match(text):
            continue
        try:
            (node,) = ast.parse(text).body
        except (SyntaxError, ValueError):
            return ()
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and _constant(node.value)):
            return ()
        found.append(text)
    return tuple(found)


def _constant(node) -> bool:
    import ast

    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def settings_patch(settings: tuple[str, ...], files: dict[str, str],
                   editable: list[str]) -> tuple[str, str]:
    """(a patch that makes each of `settings` the line where an editable Python file sets that
    name, or "", and what to tell the model, or how it was taken). Each name must be set exactly
    once at the top level of exactly one editable file, to a constant; the file's trailing
    comment stays when the new line has none."""

    blocks, names = [], []
    sets = {path: _top_level_sets(files[path]) for path in editable
            if path.endswith(".py") and path in files}  # each file read once
    for line in settings:
        name = line.split("=", 1)[0].strip()
        where = [(path, n) for path, found in sets.items() for n in found.get(name, [])]
        if len(where) != 1:
            said = ("is not set at the top level of" if not where else "is set more than once in")
            return "", (f"the PATCH section holds settings but no SEARCH/REPLACE block, and "
                        f"{name} {said} {', '.join(editable)}. " + FORMAT)
        if name in names:
            return "", (f"the PATCH section sets {name} twice. " + FORMAT)
        path, number = where[0]
        old = files[path].splitlines()[number - 1]
        new = line
        code, mark, comment = old.partition("#")
        if mark and "#" not in line and _parses(code):  # the file's comment, not a '#' in a string
            new = line + " " * (len(code) - len(code.rstrip())) + mark + comment
        blocks.append(f"{path}\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n")
        names.append(name)
    return "".join(blocks), (f"its PATCH set {', '.join(names)} with no SEARCH/REPLACE block: "
                             "taken as the lines that set them")


def _parses(code: str) -> bool:
    import ast

    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _top_level_sets(source: str) -> dict[str, list[int]]:
    """Name -> the line numbers of the one-line module-level statements of `source` that set
    it to a constant."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out: dict[str, list[int]] = {}
    for n in tree.body:
        if (isinstance(n, (ast.Assign, ast.AnnAssign)) and n.lineno == n.end_lineno
                and n.value is not None and _constant(n.value)):
            for t in n.targets if isinstance(n, ast.Assign) else [n.target]:
                if isinstance(t, ast.Name):
                    out.setdefault(t.id, []).append(n.lineno)
    return out


def _fenced_code(lines: list[str]) -> str | None:
    """The one fenced code block of the PATCH section, when it holds code and no patch."""
    blocks: list[list[str]] = []
    inside = False
    for line in lines:
        if _FENCE.match(line):
            inside = not inside
            if inside:
                blocks.append([])
        elif inside:
            blocks[-1].append(line)
    blocks = [b for b in blocks if any(x.strip() for x in b)]
    if len(blocks) != 1:
        return None
    return "\n".join(blocks[0]).strip("\n") + "\n"


def _bare_code(text: str) -> str | None:
    """Unfenced code as the PATCH section, when it parses as Python with a definition in it."""
    import ast

    lines = text.strip("\n").split("\n")
    if lines and _FILE_NAME.fullmatch(lines[0].strip()):
        text = "\n".join(lines[1:]) + "\n"  # the file's name written above its code
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    defines = any(isinstance(n, (ast.ClassDef, ast.FunctionDef)) for n in tree.body)
    return text if defines else None


def whole_file_patch(code: str, files: dict[str, str], editable: list[str],
                     form: str = FORMAT) -> tuple[str, str]:
    """(a patch that makes `code` the new text of the one editable Python file, or "", and a
    note: what to tell the model when it cannot be that, or how it was taken). Code is taken as
    a whole file only when the task has one editable Python file and the code defines every
    class and function that file defines at its top level: a snippet is not mistaken for the
    file. The one class the code lacks, where the code has one class the file does not, is
    that class renamed: it is named back."""
    import ast

    from recursor.task.kernel.source import rename_model

    # asked for a patch, the code came instead of blocks; asked for the whole file, it is that
    opening = ("the PATCH section holds code but no SEARCH/REPLACE block, and" if form == FORMAT
               else "the PATCH section's code")
    targets = [f for f in editable if f.endswith(".py") and f in files]
    if len(targets) != 1:
        return "", (f"{opening} there is more than one file it could be for. " + form)
    name = targets[0]
    try:
        new = ast.parse(code)
    except SyntaxError as err:
        return "", (f"{opening} as the whole of {name} does not parse (line {err.lineno}: "
                    f"{err.msg}). " + form)
    defined = {n.name for n in ast.parse(files[name]).body
               if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}
    given = {n.name for n in new.body
             if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}
    missing = sorted(defined - given)
    classes = {n.name for n in ast.parse(files[name]).body if isinstance(n, ast.ClassDef)}
    extra = [n.name for n in new.body if isinstance(n, ast.ClassDef) and n.name not in defined]
    took = ""
    if len(missing) == 1 and missing[0] in classes and len(extra) == 1:
        # the file's class under the name of what it computes (the 1.5B model's `LayerNorm`
        # for a kernel's `ModelNew`): the harness asks for the file's name, a reader would
        # name it back
        try:
            code = rename_model(code, extra[0], missing[0])
            took, missing = f"its class {extra[0]} named back {missing[0]}, as {name} names it", []
        except (ValueError, SyntaxError):
            pass
    if missing:
        return "", (f"{opening} is not the whole of {name} (it lacks {', '.join(missing)}). "
                    + form)
    current = files[name] if files[name].endswith("\n") else files[name] + "\n"
    return f"{name}\n<<<<<<< SEARCH\n{current}=======\n{code}>>>>>>> REPLACE\n", took


def answer_title(text: str) -> str:
    """The TITLE of an answer, whether or not the rest of it can be read ("" when none)."""
    for line in text.splitlines():
        m = _LABEL.match(line)
        if m and m.group(1).upper() == "TITLE":
            return _clean([m.group(2)])[:200]
    return ""


def _clean(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split()).strip("*` ")
