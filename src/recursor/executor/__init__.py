"""Executors: where experiments run (`Executor`), listed by name in `EXECUTORS`."""

from __future__ import annotations

from collections.abc import Callable

from recursor.executor.base import Executor
from recursor.executor.local import LocalExecutor

# (workers, threads of one experiment, cluster address or None) -> the executor
ExecutorFactory = Callable[[int, int, str | None], Executor]


def _local(workers: int, threads: int, address: str | None) -> Executor:
    return LocalExecutor(workers)


def _ray(workers: int, threads: int, address: str | None) -> Executor:
    # Ray is an optional extra: imported only by a run that asks for it
    from recursor.executor.ray_pool import RayExecutor

    return RayExecutor(workers, address, threads=threads)


# name (the `executor` setting) -> factory; a new executor is one class and one line here
EXECUTORS: dict[str, ExecutorFactory] = {"local": _local, "ray": _ray}

__all__ = ["EXECUTORS", "Executor", "ExecutorFactory", "LocalExecutor"]
