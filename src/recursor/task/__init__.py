"""Tasks: a folder with task.toml, the program, a read-only harness and an idea library."""

from recursor.task.folder import Task, builtin_tasks, idea_problems, load_task, parse_override
from recursor.task.ideas import LibraryIdea, load_ideas
from recursor.task.spec import TaskSpec

__all__ = ["LibraryIdea", "Task", "TaskSpec", "builtin_tasks", "idea_problems", "load_ideas",
           "load_task", "parse_override"]
