"""A checked `recursor task init` request (`Plan`): what the scaffold writes, decided before
anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Plan:
    """The checked request: everything `init_task` writes is decided here."""

    dest: Path
    name: str
    train: str
    script: str | None  # the program file --train runs, when it names one
    score: str | None
    metric: str
    minimize: bool
    curve_regex: str | None
    curve_name: str | None
    total_steps: int | None
    metric_regex: str | None
    program: dict[str, Path]  # relative path in the task -> source file
    editable: tuple[str, ...]
    assets: dict[str, Path]  # relative path in the program's folder -> source file
    scoring: dict[str, Path]  # relative path in the task (scoring/...) -> source file
    train_seconds: float
    score_seconds: float
    memory_mb: int
    threads: int
    seeds: int
