"""The task a run keeps in its folder (`RUN/task/`), loaded with the run's overrides.

Reading it needs only the store and the task loader, so the readers of a run (reports, the
read model `recursor.report.run.Run`) use it without loading the parts that drive a run.
"""

from __future__ import annotations

from recursor.settings import RunConfig
from recursor.store import RunStore
from recursor.task import Task, load_task
from recursor.task.objectives import for_objective

SNAPSHOT = "task"


def run_task_snapshot(store: RunStore) -> Task:
    """The task as the run started it, with the run's overrides, as its objective sees it."""
    config = RunConfig.from_json(store.meta()["config"])
    return for_objective(load_task(store.run_dir / SNAPSHOT, config.overrides), config.objective)
