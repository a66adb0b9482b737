"""The discovery library: accepted steps kept across runs and tasks (see store.py)."""

from recursor.discoveries.records import Discovery, program_hash
from recursor.discoveries.store import DiscoveryLibrary, LibraryError, default_location

__all__ = ["Discovery", "DiscoveryLibrary", "LibraryError", "default_location", "program_hash"]
