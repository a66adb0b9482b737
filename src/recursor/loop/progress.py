"""What the loop tells whoever watches it: events as they happen, and a progress snapshot.

The CLI draws these with rich; a notebook user can pass their own observer, or none.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from recursor.executor.job import read_metrics
from recursor.loop.config import RunConfig
from recursor.loop.jobs import Flight
from recursor.store import Node, NodeStatus
from recursor.task import Task
from recursor.task.spec import TaskSpec

# the curve quantity shown for a task that names none (`metric.curve`): the one the built-in
# training tasks stream, so that a task without the setting still shows its loss if it logs it
DEFAULT_CURVE = "train_loss"


def curve_key(spec: TaskSpec) -> str:
    """The curve quantity a watcher is shown for a task's running experiments."""
    return spec.metric.curve or DEFAULT_CURVE


@dataclass(frozen=True)
class Running:
    node_id: int
    title: str
    seed: int
    stage: str  # baseline, screen, confirm
    seconds: float
    point: dict[str, Any] | None  # the latest point of its partial curve
    losses: tuple[float, ...] = ()  # its curve quantity (Progress.curve) so far, ~24 points


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
    curve: str = DEFAULT_CURVE  # the curve quantity of `Running.point` and `Running.losses`


class Observer(Protocol):
    def on_event(self, kind: str, message: str, node_id: int | None) -> None: ...

    def on_progress(self, progress: Progress) -> None: ...


class SilentObserver:
    def on_event(self, kind: str, message: str, node_id: int | None) -> None:
        pass

    def on_progress(self, progress: Progress) -> None:
        pass


@dataclass(frozen=True)
class LoopState:
    """What a watcher may read of the loop: a read-only view, made at every tick."""

    task: Task
    config: RunConfig
    metric: str
    workers: int
    elapsed: float  # seconds, over all sessions
    candidates: int  # candidates proposed so far
    nodes: Mapping[int, Node]
    flights: tuple[Flight, ...]  # experiments in flight


def snapshot(loop: LoopState) -> Progress:
    """The loop's state as a watcher sees it (the loop calls this at every tick)."""
    nodes = list(loop.nodes.values())
    counts: dict[str, int] = {}
    for n in nodes:
        if not n.is_baseline:
            counts[n.status.value] = counts.get(n.status.value, 0) + 1
    key = curve_key(loop.task.spec)
    running = []
    for f in loop.flights:
        curve, _, _ = read_metrics(f.job.metrics_file, f.job.token)
        node = loop.nodes[f.evaluation.node_id]
        losses = [p[key] for p in curve if isinstance(p.get(key), float)]
        stride = max(1, len(losses) // 24)
        running.append(Running(node.id, node.title, f.evaluation.seed, f.stage,
                               time.monotonic() - f.started, curve[-1] if curve else None,
                               tuple(losses[::stride])))
    accepted = [n for n in nodes if n.status is NodeStatus.ACCEPTED]
    seeds = loop.task.spec.seeds.values
    baseline = next((n for n in nodes if n.is_baseline), None)
    best = None
    if accepted:
        sign = 1 if loop.task.spec.minimize else -1
        best = min(accepted, key=lambda n: sign * (n.mean(loop.metric, seeds) or 0.0))
    return Progress(
        task=loop.task.name,
        metric=loop.metric,
        minimize=loop.task.spec.minimize,
        experiments=loop.candidates,
        experiments_budget=loop.config.experiments,
        elapsed=loop.elapsed,
        minutes_budget=loop.config.minutes,
        workers=loop.workers,
        running=tuple(sorted(running, key=lambda r: (r.node_id, r.seed))),
        baseline=baseline.mean(loop.metric, seeds) if baseline else None,
        best_node=best.id if best else None,
        best=best.mean(loop.metric, seeds) if best else None,
        counts=counts,
        curve=key,
    )
