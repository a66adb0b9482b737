"""Tasks: a folder with task.toml, the program, a read-only harness and an idea library.

The names below load on first use: a harness that imports one of the task families' scoring
modules (`recursor.task.lm`, `recursor.task.kernel`) in every experiment does not pay for the
task loader and its validation models."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recursor.task.folder import Task, builtin_tasks, idea_problems, load_task, parse_override
    from recursor.task.ideas import LibraryIdea, load_ideas
    from recursor.task.spec import TaskSpec

_WHERE = {"Task": "folder", "builtin_tasks": "folder", "idea_problems": "folder",
          "load_task": "folder", "parse_override": "folder", "LibraryIdea": "ideas",
          "load_ideas": "ideas", "TaskSpec": "spec"}

__all__ = ["LibraryIdea", "Task", "TaskSpec", "builtin_tasks", "idea_problems", "load_ideas",
           "load_task", "parse_override"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
