"""A task folder: `task.toml`, the baseline program, the read-only harness, the idea library.

`load_task` accepts a built-in task's name (`recursor tasks` lists them) or a folder path, and
settings overrides written as dotted keys (`budget.train_tokens=40000`) that go through the same
validation as the file.
"""

from __future__ import annotations

import copy
import hashlib
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recursor import patch as patches
from recursor.errors import PatchError, TaskError
from recursor.task.ideas import LibraryIdea, load_ideas
from recursor.task.space import space_problems
from recursor.task.spec import TaskSpec, validation_problems

BUILTIN = Path(__file__).parent / "builtin"
TASK_FILE = "task.toml"


@dataclass(frozen=True)
class Task:
    root: Path
    spec: TaskSpec
    ideas: tuple[LibraryIdea, ...]
    raw: dict[str, Any]  # task.toml as read, with overrides applied
    # the task's own metric when a run optimises a secondary one (recursor.task.objectives):
    # the public evaluation is recorded under the objective's name, the harness knows it by this
    task_metric: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def program_files(self) -> dict[str, str]:
        return {f: (self.root / f).read_text() for f in self.spec.program.files}

    def may_write(self, path: str) -> bool:
        """Whether an idea may write `path`: an editable file, or a new file program.new_files
        allows (never a program or harness file)."""
        return self.spec.program.may_write(path, self.spec.harness.files)

    def harness_hashes(self) -> dict[str, str]:
        return {f: hashlib.sha256((self.root / f).read_bytes()).hexdigest()
                for f in self.spec.harness.files}

    def harness_command(self) -> list[str]:
        return [part.replace("{python}", sys.executable) for part in self.spec.harness.command]


def builtin_tasks() -> dict[str, Path]:
    """Name -> folder of every task shipped with recursor."""
    found = {}
    # tiny-lm sits at builtin/tiny_lm; the kernel suite at builtin/kernels/<problem>
    for toml in sorted([*BUILTIN.glob(f"*/{TASK_FILE}"), *BUILTIN.glob(f"kernels/*/{TASK_FILE}")]):
        with toml.open("rb") as f:
            name = tomllib.load(f).get("name", toml.parent.name)
        found[name] = toml.parent
    return found


def resolve_task_dir(ref: str | Path) -> Path:
    path = Path(ref)
    if (path / TASK_FILE).is_file():
        return path.resolve()
    builtins = builtin_tasks()
    if str(ref) in builtins:
        return builtins[str(ref)]
    if path.exists():
        raise TaskError(str(ref), [f"{path} has no {TASK_FILE}; a task folder needs one"])
    known = ", ".join(sorted(builtins)) or "none"
    raise TaskError(str(ref), [f"no task folder {path} and no built-in task of that name "
                               f"(built-in: {known})"])


def parse_override(text: str) -> tuple[str, Any]:
    """'budget.train_tokens=40000' -> ('budget.train_tokens', 40000); values are TOML values."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise TaskError("override", [f"{text!r}: write KEY=VALUE, e.g. budget.train_tokens=40000"])
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()  # a bare word is a string
    return key.strip(), parsed


def _apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        table = raw
        for part in parents:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise TaskError("override", [f"{dotted}: {part} is not a table in task.toml"])
        table[leaf] = value
    return raw


def load_task(
    ref: str | Path,
    overrides: Mapping[str, Any] | None = None,
    check_ideas: bool = False,
) -> Task:
    """Load and validate a task folder. Raises TaskError listing every problem found."""
    root = resolve_task_dir(ref)
    try:
        raw = tomllib.loads((root / TASK_FILE).read_text())
    except tomllib.TOMLDecodeError as err:
        raise TaskError(str(root), [f"{TASK_FILE} is not valid TOML: {err}"]) from None
    raw = _apply_overrides(raw, overrides or {})
    try:
        spec = TaskSpec.model_validate(raw)
    except ValidationError as err:
        raise TaskError(str(root), validation_problems(err)) from None

    problems = []
    for f in (*spec.program.files, *spec.harness.files):
        if not (root / f).is_file():
            problems.append(f"{f} is listed in {TASK_FILE} but missing from {root}")
    if spec.space:
        named = {f: (root / f).read_text() for f in {s.file for s in spec.space}
                 if (root / f).is_file()}
        problems += space_problems(spec.space, named)
    ideas: list[LibraryIdea] = []
    ideas_dir = root / spec.ideas.dir
    if ideas_dir.is_dir():
        try:
            ideas = load_ideas(ideas_dir, spec.program.editable)
        except TaskError as err:
            problems.extend(err.problems)
    if problems:
        raise TaskError(str(root), problems)
    task = Task(root, spec, tuple(ideas), raw)
    if check_ideas:
        problems = idea_problems(task)
        if problems:
            raise TaskError(str(root), problems)
    return task


def idea_problems(task: Task) -> list[str]:
    """Ideas whose patch does not apply to the task's baseline program."""
    files = task.program_files()
    problems = []
    for idea in task.ideas:
        try:
            patches.apply(idea.patch, files)
        except PatchError as err:
            problems.append(f"{task.spec.ideas.dir}/{idea.key}.toml does not apply to the "
                            f"baseline: {err}")
    return problems
