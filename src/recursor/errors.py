"""One exception hierarchy. Every message says what is wrong and where, so it can be fixed."""

from __future__ import annotations


class RecursorError(Exception):
    """Base of every error recursor raises on purpose."""


class TaskError(RecursorError):
    """A task folder that cannot be used: the message lists every problem found at once."""

    def __init__(self, task: str, problems: list[str]):
        self.task = task
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"task {task} has {len(self.problems)} problem(s):\n{lines}")


class DataError(RecursorError):
    """A data file that could not be found, downloaded or verified."""


class PatchError(RecursorError):
    """A patch that cannot be read or applied. Written so that a person or an LLM can repair it."""


class PatchFormatError(PatchError):
    """The patch text is not in the SEARCH/REPLACE format."""


class PatchApplyError(PatchError):
    """The patch is well formed but does not apply to the files it names."""


class StoreError(RecursorError):
    """A run folder or database that cannot be opened or would be corrupted by a request."""


class IllegalTransition(StoreError):
    """A node status change the lifecycle does not allow (e.g. leaving a final status)."""


class RunLockedError(StoreError):
    """Another live process is driving this run."""


class IntegrityError(RecursorError):
    """The harness or the data changed under the run. Never retried: the run stops."""


class BudgetError(RecursorError):
    """A run asked to do nothing, or a budget that cannot be honoured."""


class SettingsError(BudgetError, ValueError):
    """Run settings out of their range, not among their choices, or at odds with each other: the
    message names each setting and what it allows. A BudgetError because that is how these were
    reported before, so that code catching it still does; a ValueError, as a bad value is."""


class SandboxError(RecursorError):
    """A sandbox kind that was asked for but does not work here; the message names the fix."""
