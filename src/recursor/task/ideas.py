"""A task's built-in idea library: one TOML file per idea, each with its patch.

    title = "RMSNorm instead of LayerNorm"
    category = "architecture"
    hypothesis = "..."      # what should happen, and why it would show in the metric
    rationale = "..."       # the mechanism, in a few sentences
    source = "..."          # where the idea comes from (paper, speedrun record)
    patch = '''
    train.py
    <<<<<<< SEARCH
    ...
    >>>>>>> REPLACE
    '''
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recursor import patch as patches
from recursor.errors import PatchError, TaskError
from recursor.task.spec import validation_problems

Category = Literal[
    "architecture", "optimizer", "schedule", "initialization", "regularization",
    "hyperparameter", "efficiency", "data", "other",
    # kernel tasks: how the operation is made faster
    "cpu-kernel", "rewrite", "triton", "cuda",
]


class _IdeaFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3)
    category: Category
    hypothesis: str = Field(min_length=10)
    rationale: str = Field(min_length=10)
    source: str = Field(min_length=3)
    patch: str = Field(min_length=10)
    # where the idea's code can run: "cuda" ideas (Triton, CUDA kernels) are offered only when
    # a GPU is there; their correctness is tested on CPU apart (Triton's interpreter, nvcc)
    device: Literal["any", "cpu", "cuda"] = "any"


@dataclass(frozen=True)
class LibraryIdea:
    """An idea of a task's library, ready to be proposed."""

    key: str  # the file's stem: stable across runs, used to tell ideas apart
    title: str
    category: str
    hypothesis: str
    rationale: str
    source: str
    patch_text: str
    patch: patches.Patch
    device: str = "any"

    def runs_here(self) -> bool:
        return self.device != "cuda" or has_cuda()


def load_ideas(folder: Path, editable: tuple[str, ...] = ()) -> list[LibraryIdea]:
    """Every idea of `folder`, sorted by key. Raises TaskError listing every bad file at once."""
    ideas: list[LibraryIdea] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.toml")):
        where = f"{folder.name}/{path.name}"
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            problems.append(f"{where}: not valid TOML: {err}")
            continue
        try:
            spec = _IdeaFile.model_validate(raw)
        except ValidationError as err:
            problems.extend(validation_problems(err, where))
            continue
        try:
            parsed = patches.parse(spec.patch)
        except PatchError as err:
            problems.append(f"{where}: patch: {err}")
            continue
        outside = [f for f in parsed.files if editable and f not in editable]
        if outside:
            problems.append(f"{where}: patch edits {', '.join(outside)}, which the task does not "
                            f"list as editable ({', '.join(editable)})")
            continue
        ideas.append(LibraryIdea(key=path.stem, patch_text=spec.patch, patch=parsed,
                                 **spec.model_dump(exclude={"patch"})))
    if problems:
        raise TaskError(str(folder), problems)
    return ideas


@functools.cache
def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
