"""What the loop tells whoever watches it: events as they happen, and a progress snapshot.

The CLI draws these with rich; a notebook user can pass their own observer, or none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Running:
    node_id: int
    title: str
    seed: int
    stage: str  # baseline, screen, confirm
    seconds: float
    point: dict[str, Any] | None  # the latest point of its partial curve
    losses: tuple[float, ...] = ()  # its training loss so far, at most ~24 points


@dataclass(frozen=True)
class Progress:
    task: str
    metric: str
    minimize: bool
    experiments: int  # candidates proposed so far
    experiments_budget: int | None
    elapsed: float  # seconds, over all sessions
    minutes_budget: float | None
    workers: int
    running: tuple[Running, ...] = ()
    baseline: float | None = None
    best_node: int | None = None
    best: float | None = None
    counts: dict[str, int] = field(default_factory=dict)


class Observer(Protocol):
    def on_event(self, kind: str, message: str, node_id: int | None) -> None: ...

    def on_progress(self, progress: Progress) -> None: ...


class SilentObserver:
    def on_event(self, kind: str, message: str, node_id: int | None) -> None:
        pass

    def on_progress(self, progress: Progress) -> None:
        pass
