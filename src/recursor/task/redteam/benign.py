"""The benign prompts: written for this project, shipped with it (benign.jsonl), harmless.

One JSON object a line: `text`, `topic` (coding, cooking, health, history, travel, maths,
writing, science, home, money, sport, arts) and `lookalike`, true for a prompt that shares its
words with harmful requests and means no harm ("kill a Python process", "shoot a portrait in
low light"): the prompts a guard keyed on words would flag.

`split` deals them into three sets, by topic and look-alike alike, so that each set has its
share of both: 40% the guard's training benigns, 30% the harness's hidden threshold set (a
guard's threshold is set on it for a fixed false-positive rate, and no program ever sees it),
30% the held-out set, also wrapped in the held-out jailbreak templates for the utility floor.
Within a topic, prompts are taken in the order of their text's sha256, so the deal depends on
nothing but the texts; prompts that are near-duplicates of each other (behaviour similarity,
recursor.task.redteam.similarity) are dealt together.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from importlib import resources

import numpy as np

from recursor.task.redteam.records import BenignPrompt
from recursor.task.redteam.similarity import BEHAVIOUR_NEAR, behaviour_similarity, connected

SHARES = (("train", 0.4), ("threshold", 0.3), ("heldout", 0.3))


def load() -> tuple[BenignPrompt, ...]:
    """The benign prompts, in file order."""
    text = resources.files("recursor.task.redteam").joinpath("benign.jsonl").read_text("utf-8")
    prompts = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            entry = json.loads(line)
            prompts.append(BenignPrompt(id=f"benign:{n:03d}", text=entry["text"],
                                        topic=entry["topic"], lookalike=bool(entry["lookalike"])))
    return tuple(prompts)


def split(prompts: Sequence[BenignPrompt]) -> tuple[tuple[BenignPrompt, ...], ...]:
    """(training, threshold, held-out) prompts: see the module's docstring."""
    similar = behaviour_similarity([p.text for p in prompts], [p.text for p in prompts])
    near = np.argwhere(np.triu(similar >= BEHAVIOUR_NEAR, k=1))
    group = connected(len(prompts), [(int(i), int(j)) for i, j in near])
    strata: dict[tuple[str, bool], dict[int, list[BenignPrompt]]] = defaultdict(dict)
    for i, p in enumerate(prompts):
        first = prompts[group[i]]
        strata[(first.topic, first.lookalike)].setdefault(group[i], []).append(p)
    dealt: dict[str, list[BenignPrompt]] = {name: [] for name, _ in SHARES}
    for key in sorted(strata):
        groups = sorted(strata[key].values(), key=lambda g: _digest(g[0].text))
        total = sum(len(g) for g in groups)
        done = 0
        for g in groups:
            middle = (done + len(g) / 2) / total  # where the group's middle falls in the topic
            done += len(g)
            edge = 0.0
            for name, share in SHARES:
                edge += share
                if middle < edge or name == SHARES[-1][0]:
                    dealt[name].extend(g)
                    break
    order = {p.id: k for k, p in enumerate(prompts)}
    return tuple(tuple(sorted(dealt[name], key=lambda p: order[p.id])) for name, _ in SHARES)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
