"""The two ways a harness ends without a result: the candidate failed (its reason is the
experiment's), or the harness was set up wrong (it crashes, and recursor quotes the crash)."""

from __future__ import annotations


class HarnessError(Exception):
    """A failure of the candidate, reported as the experiment's reason."""


class Overtime(HarnessError):
    """A run of the program went past its wall-clock cap (and was killed)."""


class NoSandbox(RuntimeError):
    """The harness was given no sandbox: a fault of the set-up, not of the candidate."""

    def __init__(self) -> None:
        super().__init__(
            "the harness's config names no sandbox: recursor runs every candidate through a "
            "sandbox's init, the weakest (`--sandbox none`) included, and never runs one bare; "
            "pass the config recursor.loop.jobs.make_job builds")
