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
back to the model for repair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CATEGORIES = ("architecture", "optimizer", "schedule", "hyperparameter", "initialization",
              "regularization", "data", "systems", "other")
FIELDS = ("TITLE", "CATEGORY", "HYPOTHESIS", "RATIONALE", "PATCH")

FORMAT = f"""\
Answer with exactly one idea, in this format (plain text; no other sections):

TITLE: <one line naming the change>
CATEGORY: <one of: {', '.join(CATEGORIES)}>
HYPOTHESIS: <what will happen to the metric, by about how much, and why>
RATIONALE: <the mechanism; cite the paper or project it comes from, if any>
PATCH:
<file name>
<<<<<<< SEARCH
<lines copied exactly from the current file, enough to be unique>
=======
<the new lines>
>>>>>>> REPLACE

A patch may hold several blocks, for one or more editable files; each SEARCH must match the
current file exactly once, whitespace included. Keep the change small and focused on the idea."""

_LABEL = re.compile(r"^\s*(?:[*#>\-\s]*)\**\s*(" + "|".join(FIELDS) + r")\s*\**\s*:\s*(.*)$",
                    re.IGNORECASE)
_FENCE = re.compile(r"^\s*```[\w+-]*\s*$")


class AnswerError(ValueError):
    """The answer cannot be used as it is; the message says what to fix."""


@dataclass(frozen=True)
class Answer:
    title: str
    category: str
    hypothesis: str
    rationale: str
    patch: str


def parse_answer(text: str) -> Answer:
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
        raise AnswerError(f"the answer has no {' and no '.join(missing)} section. " + FORMAT)
    patch_lines = [ln for ln in fields["PATCH"] if not _FENCE.match(ln)]
    patch = "\n".join(patch_lines).strip("\n") + "\n"
    if "<<<<<<< SEARCH" not in patch and not patch.lstrip().startswith(("---", "diff ")):
        raise AnswerError("the PATCH section holds no SEARCH/REPLACE block. " + FORMAT)
    category = " ".join(fields.get("CATEGORY", [])).strip().lower().strip("*` .")
    return Answer(
        title=_clean(fields["TITLE"])[:200],
        category=category if category in CATEGORIES else "other",
        hypothesis=_clean(fields.get("HYPOTHESIS", [])),
        rationale=_clean(fields.get("RATIONALE", [])),
        patch=patch,
    )


def _clean(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split()).strip("*` ")
