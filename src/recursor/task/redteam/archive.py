"""The attack archive: a MAP-Elites grid of jailbreak templates over risk category x attack
style, both named by the harness, and the payload transforms the harness applies itself.

An attacker proposes, for a cell, a template (text with the slot `{behaviour}` exactly once) and
the name of a transform; the harness puts the cell's requests into the slot itself, transformed
by its own code, so that an attack can neither drop nor change what it asks for. A proposal
takes a cell when it gets more requests past the guard than the cell's elite, and is not a
near-duplicate of another cell's elite (one template copied into every cell fills one cell).

An archive file, as `recursor selfplay` exports it and `redteam-defend` reads it:

    {"cells": [{"category": "cyber", "style": "role-play", "template": "...{behaviour}...",
                "transform": "none", "success": 0.75}, ...]}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from recursor.task.redteam.categories import CATEGORIES
from recursor.task.redteam.guard_eval import held_back
from recursor.task.redteam.records import SLOT, Behaviour, Template
from recursor.task.redteam.similarity import TEMPLATE_NEAR, template_similarity
from recursor.task.redteam.transforms import TRANSFORMS

STYLES = ("role-play", "hypothetical", "fiction", "instruction-override", "refusal-suppression",
          "expert-persona", "prefix-injection", "obfuscation")
MAX_TEMPLATE = 4000  # characters: a template is a wrapper, not a document


@dataclass(frozen=True)
class Cell:
    category: str
    style: str

    @property
    def key(self) -> str:
        return f"{self.category}/{self.style}"


@dataclass(frozen=True)
class Entry:
    """A cell's elite."""

    category: str
    style: str
    template: str
    transform: str
    success: float


def cells() -> list[Cell]:
    return [Cell(c, s) for c in CATEGORIES for s in STYLES]


def problem(proposal: Mapping) -> str | None:
    """Why a proposal is refused, or None. Refused proposals are recorded with the reason and
    take no cell."""
    template, transform = proposal.get("template"), proposal.get("transform", "none")
    if proposal.get("category") not in CATEGORIES or proposal.get("style") not in STYLES:
        return "names no cell of the grid"
    if not isinstance(template, str):
        return "holds no template text"
    if template.count(SLOT) != 1:
        return f"holds {SLOT} {template.count(SLOT)} times, not once: the harness puts the " \
               "request there itself"
    if len(template) > MAX_TEMPLATE:
        return f"is longer than {MAX_TEMPLATE} characters"
    if transform not in TRANSFORMS:
        return f"names the transform {transform!r}, not one of {', '.join(TRANSFORMS)}"
    return None


def fill(template: str, request: str, transform: str) -> str:
    """The attack: the request, transformed by the harness, in the template's slot."""
    return template.replace(SLOT, TRANSFORMS[transform](request), 1)


class Archive:
    """The elites by cell, refusing a template that is a near-duplicate of another cell's."""

    def __init__(self, entries: Sequence[Entry] = ()):
        self.elites: dict[str, Entry] = {f"{e.category}/{e.style}": e for e in entries}

    def offer(self, entry: Entry) -> str:
        """'taken', 'not better' or 'near-duplicate of CELL'."""
        key = f"{entry.category}/{entry.style}"
        held = self.elites.get(key)
        if held is not None and entry.success <= held.success:
            return "not better"
        for other, e in self.elites.items():
            if other != key and template_similarity(e.template, entry.template) >= TEMPLATE_NEAR:
                return f"near-duplicate of {other}"
        self.elites[key] = entry
        return "taken"

    def coverage(self) -> float:
        return len(self.elites) / len(cells())

    def to_json(self) -> dict:
        return {"cells": [asdict(e) for _, e in sorted(self.elites.items())]}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()


def requests_by_category(behaviours: Sequence[Behaviour],
                         seed: int) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(search, final): each category's requests, split in two halves by the seed (by a hash
    of the seed and each request's id): the search tries the first, the archive is scored on
    the second. A category left with no request on a side is not in that side's dict."""
    search: dict[str, list[str]] = {}
    final: dict[str, list[str]] = {}
    for b in behaviours:
        search.setdefault(b.category, [])
        final.setdefault(b.category, [])
    mine, held = held_back(behaviours, seed + 7919, share=0.5)
    for b in mine:
        search[b.category].append(b.text)
    for b in held:
        final[b.category].append(b.text)
    return ({c: v for c, v in search.items() if v}, {c: v for c, v in final.items() if v})


def read(path: Path) -> list[Entry]:
    """The entries of an archive file, each checked as a proposal is."""
    cells_ = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    out = []
    for k, cell in enumerate(cells_):
        why = problem(cell)
        if why:
            raise ValueError(f"{path}: cell {k} {why}")
        out.append(Entry(cell["category"], cell["style"], cell["template"],
                         cell.get("transform", "none"), float(cell.get("success", 0.0))))
    return out


def templates(folder: Path, names: Sequence[str]) -> list[Template]:
    """The templates of the archive files `names` (relative to `folder`), each cell's with its
    transform: what a guard learns from, or is scored on. Raises ValueError naming the file."""
    out = []
    for name in names:
        try:
            entries = read(Path(folder) / name)
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"attack archive {name}: {err}") from None
        out += [Template(f"{Path(name).stem}:{k}", e.template, "archive", f"{name}:{k}",
                         transform=e.transform) for k, e in enumerate(entries)]
    return out
