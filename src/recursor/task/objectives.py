"""Which of a task's metrics a run optimises: the task's metric, or one of its secondary metrics.

A task declares its metric (`[metric]`) and may declare secondary metrics (`[[secondary]]`),
which its harness reports in the same result record, and constraints on any of them. A run's
`objective` setting names the one the search optimises and the judge tests; every other is
still recorded with each evaluation.

The rest of recursor knows one metric, `spec.metric`, and records the public evaluation under
its name. So a run that optimises a secondary metric sees the task through `for_objective`:
the same task, with that metric as `spec.metric` and the task's own metric among the secondary
ones, the public evaluation named after the objective (the harness is still told its own name:
`Task.task_metric`, see `harness_evaluation`), and no held-out evaluations: those measure the
task's metric on other data, and their gate compares gains in one metric, which the objective's
are not. The judge, the policies, the value function, the proposers' briefs and the reports then
all follow the objective without knowing there was a choice.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from recursor.errors import TaskError
from recursor.task.folder import Task
from recursor.task.spec import EvaluationSpec


def objective_names(task: Task) -> tuple[str, ...]:
    """The metrics a run of `task` may optimise: its metric, then its secondary metrics."""
    return tuple(m.name for m in task.spec.metrics)


def for_objective(task: Task, objective: str | None) -> Task:
    """`task` as a run that optimises `objective` sees it (None, or the task's metric: as is).
    Raises TaskError naming the choices when `objective` is not one of the task's metrics."""
    spec = task.spec
    if objective is None or objective == (task.task_metric or spec.metric.name):
        return task
    if task.task_metric is not None:
        raise ValueError("for_objective takes the task as loaded, not as another objective sees it")
    chosen = spec.metric_spec(objective)
    if chosen is None:
        names = objective_names(task)
        secondary = ", ".join(names[1:]) or "none declared"
        raise TaskError(task.name, [
            f"objective {objective!r} is not one of the task's metrics: choose its metric "
            f"{names[0]} or a secondary metric ({secondary})"])
    others = tuple(m for m in spec.secondary if m.name != objective)
    public = [e for e in spec.evaluations if not e.held_out]
    evaluations = tuple(EvaluationSpec(**{**e.model_dump(), "name": objective}) for e in public)
    derived = spec.model_copy(update={"metric": chosen, "secondary": (spec.metric, *others),
                                      "evaluations": evaluations})
    return dataclasses.replace(task, spec=derived, task_metric=spec.metric.name)


def harness_evaluation(task: Task, evaluation: str) -> dict[str, Any]:
    """The evaluation as the harness is given it: under the task's metric's name when the run
    records it under the objective's, since that is the name the harness reports it by."""
    config = task.spec.evaluation(evaluation).model_dump()
    if task.task_metric is not None and evaluation == task.spec.metric.name:
        config["name"] = task.task_metric
    return config
