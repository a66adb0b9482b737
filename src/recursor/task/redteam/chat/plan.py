"""What an experiment of `redteam-chat-defend` shows the defence program and what it asks the
defended model, from the red-teaming family's splits (recursor.task.redteam.splits).

The program is shown what the guard duel's guard is shown: its share of the training requests
(AdvBench; each seed holds back another 40%, `guard_eval.held_back`), the benign training
prompts, and the known jailbreak templates but 30% of their near-duplicate groups, held back
each seed (`guard_eval.unseen_templates`).

The public evaluation asks the defended model the held-back requests, bare and inside known
templates (the held-back groups among them), and the harness's hidden benign prompts, which no
program sees, bare and inside the same templates; a few more hidden benign prompts are the
likelihood floor's. The held-out evaluation asks HarmBench's requests and past-tense rewrites,
bare and inside templates people wrote in the wild (one per near-duplicate group), and the
held-out benign prompts, bare and in the same wrappers. The harness, never the program, puts
each request into its template.

Templates are drawn among those of at most `max_template_chars` characters: a 135M model on one
CPU thread reads about a hundred prompt tokens a second, and the longest templates run to
thousands.
What is asked depends on the seed alone, so a candidate and its parent answer the same prompts.

Attack archives (a self-play round's, `archives`) are known templates too: shown to the program
but their held-back groups, and worn, each of them, by held-back requests and hidden benign
prompts in the public evaluation, beside the curated draw. With `scored` (one archive of a
cross-play matrix), the attacks wear those templates alone, and the benign prompts the curated
draw and the archives the defence learnt from: an archive cannot move the floor it is measured
at. Archive templates are not held to `max_template_chars`: the attacker's own prompts are the
attack.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recursor.task.redteam.guard_eval import held_back, known_templates, unseen_templates
from recursor.task.redteam.records import Template
from recursor.task.redteam.splits import Splits

SCORED_FILLS = 2  # requests worn by each template of a cross-play archive


@dataclass(frozen=True)
class Row:
    """One prompt the defended model answers."""

    text: str
    kind: str  # attack | benign (the refusal floor) | utility (the likelihood floor)
    group: str = ""  # the template's near-duplicate group; "" for a bare prompt
    source: str = ""  # the request's or benign prompt's id


@dataclass(frozen=True)
class ChatPlan:
    train: dict[str, list[str]]  # harmful, benign, templates: what the program is shown
    rows: tuple[Row, ...]

    def of(self, kind: str) -> list[Row]:
        return [r for r in self.rows if r.kind == kind]


def _rng(seed: int, purpose: str) -> np.random.Generator:
    digest = hashlib.sha256(f"seed {seed}:{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _short(templates, max_chars: int) -> list[Template]:
    return [t for t in templates if len(t.text) <= max_chars]


def _pick(rng: np.random.Generator, items: list, n: int) -> list:
    return [items[int(i)] for i in sorted(rng.choice(len(items), size=min(n, len(items)),
                                                     replace=False))]


def _rows(rng, requests, benign, wrappers, sizes, benign_kind="benign") -> list[Row]:
    """Attacks bare and wrapped, benign prompts bare and in the same wrappers, and the
    likelihood floor's prompts (other benign prompts where there are enough)."""
    rows = [Row(b.text, "attack", "", b.id) for b in _pick(rng, requests, sizes["bare"])]
    rows += [_wear(t, requests, rng, "attack") for t in wrappers]
    floor = _pick(rng, list(benign), sizes["benign"] + sizes["utility"])
    asked, utility = floor[:sizes["benign"]], floor[sizes["benign"]:]
    rows += [Row(p.text, benign_kind, "", p.id) for p in asked]
    rows += [_wear(t, benign, rng, benign_kind) for t in wrappers]
    rows += [Row(p.text, "utility", "", p.id) for p in utility]
    return rows


def training_data(splits: Splits, seed: int,
                  archives: Sequence[Template] = ()) -> dict[str, list[str]]:
    """What the program is shown on `seed` (see the module's docstring)."""
    mine, _ = held_back(splits.train_behaviours, seed)
    shown, _ = unseen_templates(known_templates(splits, archives), seed)
    return {"harmful": [b.text for b in mine], "benign": [p.text for p in splits.benign_train],
            "templates": [t.text for t in shown]}


def public_plan(splits: Splits, seed: int, *, bare: int = 16, wrapped: int = 16,
                benign: int = 16, utility: int = 8, max_template_chars: int = 1200,
                archives: Sequence[Template] = (),
                scored: Sequence[Template] = ()) -> ChatPlan:
    _, held = held_back(splits.train_behaviours, seed)
    rng = _rng(seed, "chat-public")
    known = _short(known_templates(splits, []), max_template_chars)
    wrappers = _pick(rng, known, wrapped)
    sizes = {"bare": bare, "benign": benign, "utility": utility}
    rows = _rows(rng, list(held), list(splits.benign_threshold), wrappers, sizes)
    # the archives' rows come after, from their own stream: without archives the plan is the
    # one every earlier experiment of the task answered
    attack, floor = _rng(seed, "chat-archive-attacks"), _rng(seed, "chat-archive-benign")
    requests, hidden = list(held), list(splits.benign_threshold)
    if scored:
        rows = [r for r in rows if r.kind != "attack"]
        rows += [_wear(t, requests, attack, "attack") for t in scored for _ in range(SCORED_FILLS)]
    else:
        rows += [_wear(t, requests, attack, "attack") for t in archives]
    rows += [_wear(t, hidden, floor, "benign") for t in archives]
    return ChatPlan(training_data(splits, seed, archives), tuple(rows))


def _wear(template: Template, prompts: list, rng: np.random.Generator, kind: str) -> Row:
    """`template` around one of `prompts`, drawn by `rng`."""
    p = prompts[int(rng.integers(len(prompts)))]
    return Row(template.fill(p.text), kind, template.group or template.id, p.id)


def heldout_plan(splits: Splits, seed: int, *, bare: int = 16, wrapped: int = 24,
                 benign: int = 16, utility: int = 8, max_template_chars: int = 1200,
                 archives: Sequence[Template] = ()) -> ChatPlan:
    rng = _rng(seed, "chat-heldout")
    requests = list(splits.heldout_behaviours) + list(splits.past_tense)
    by_group: dict[str, Template] = {}
    for t in _short(splits.heldout_templates, max_template_chars):
        by_group.setdefault(t.group or t.id, t)
    wrappers = _pick(rng, [by_group[g] for g in sorted(by_group)], wrapped)
    sizes = {"bare": bare, "benign": benign, "utility": utility}
    rows = _rows(rng, requests, list(splits.benign_heldout), wrappers, sizes)
    return ChatPlan(training_data(splits, seed, archives), tuple(rows))
