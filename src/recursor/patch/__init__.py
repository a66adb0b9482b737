"""Patches: SEARCH/REPLACE blocks or unified diffs in, new file contents and unified diffs out."""

from recursor.patch.diff import unified_diff
from recursor.patch.search_replace import Edit, Patch, apply, parse
from recursor.patch.unified import parse_any, parse_unified

__all__ = ["Edit", "Patch", "apply", "parse", "parse_any", "parse_unified", "unified_diff"]
