"""Patches: SEARCH/REPLACE blocks in, new file contents and unified diffs out."""

from recursor.patch.diff import unified_diff
from recursor.patch.search_replace import Edit, Patch, apply, parse

__all__ = ["Edit", "Patch", "apply", "parse", "unified_diff"]
