"""Patches: SEARCH/REPLACE blocks or unified diffs in, new file contents and unified diffs out."""

from recursor.patch.diff import unified_diff
from recursor.patch.match import RULES, Match
from recursor.patch.search_replace import Applied, Edit, Patch, apply, apply_blocks, parse
from recursor.patch.unified import parse_any, parse_unified

__all__ = ["RULES", "Applied", "Edit", "Match", "Patch", "apply", "apply_blocks", "parse",
           "parse_any", "parse_unified", "unified_diff"]
