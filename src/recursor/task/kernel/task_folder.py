"""The task folder an imported KernelBench problem becomes: its task.toml, written whole under a
temporary name, checked with `load_task`, then renamed into place (see
`recursor.task.kernel.importer` for the layout and the shapes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from recursor.errors import TaskError
from recursor.task.kernel.shrink import _Skip

__all__ = ["CKERNEL", "ImportedTask", "task_toml", "write_folder"]

CKERNEL = Path(__file__).with_name("ckernel.py")


@dataclass(frozen=True)
class ImportedTask:
    """One task folder written: its shapes and the measured time of one eager CPU call."""

    name: str
    folder: Path
    source: Path
    cpu_shapes: tuple[dict[str, int], ...]
    gpu_shapes: tuple[dict[str, int], ...]
    cpu_ms: float  # one eager call of the reference at cpu_shapes[0], 2 threads
    notes: tuple[str, ...] = ()

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

_TOML = '''\
# A kernel task (see recursor.task.kernel): make reference.py's operation faster in solution.py.
# Imported from the KernelBench problem {file} by `recursor task import-kernelbench`.
name = {name}
title = {title}
goal = """
{goal}
"""

[program]
files = ["solution.py", "ckernel.py"]
editable = ["solution.py"]

[harness]
command = ["{{python}}", "-m", "recursor.task.kernel.harness"]
files = ["reference.py"]

[metric]
name = "speedup"
direction = "maximize"
unit = "x over PyTorch eager"

[budget]
trials = 30        # timed (reference, candidate) pairs, in alternating order
warmup = 3
seconds = 240      # the runner's wall-clock cap: compile, correctness and timing

[limits]
timeout_seconds = 300
memory_mb = 8192
threads = 2

[trial]   # a model's candidate is run like this first: a crash or a wrong output goes back to it
budget = {{ trials = 2, warmup = 1 }}   # compile and the correctness checks; little timing
timeout_seconds = 240

[seeds]
values = [1, 2, 3, 4]
confirm = 2

[[evaluations]]
name = "speedup"
held_out = false
against = "eager"

[[evaluations]]
name = "speedup_compiled"
held_out = true
against = "compiled"
seeds = 2

[settings]
correctness_sets = 3
signed = true

[settings.shapes]
{shapes_comment}
cpu = [{cpu}]
gpu = [{gpu}]

[settings.tolerance]
float32 = [1e-4, 1e-4]
float16 = [1e-2, 1e-2]
bfloat16 = [2e-2, 2e-2]

[search]
descriptors = ["category", "depth"]

[ideas]
dir = "ideas"
'''


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def _toml_shape(shape: dict[str, int]) -> str:
    keys = [k if _BARE_KEY.match(k) else _toml_str(k) for k in shape]
    return "{" + ", ".join(f"{k} = {v}" for k, v in zip(keys, shape.values(), strict=True)) + "}"


def _describe(file: Path, doc: str) -> tuple[str, str]:
    """(title, what the operation is) from the file name and Model's docstring."""
    match = re.match(r"(\d+)[_\s-]*(.*)$", file.stem)
    number, words = (match.group(1), match.group(2)) if match else ("", file.stem)
    words = " ".join(words.replace("_", " ").split()) or file.stem
    title = (
        f"{words} (KernelBench {number}), faster than PyTorch"
        if number
        else f"{words} (KernelBench), faster than PyTorch"
    )
    return title, (doc.rstrip(".") or words)


def task_toml(task: ImportedTask, doc: str, shrink: bool) -> str:
    import tomllib

    title, what = _describe(task.source, doc)
    second = " and a second shape" if len(task.cpu_shapes) > 1 else ""
    goal = (
        f"Make ModelNew in solution.py compute the same result as Model in reference.py "
        f"({what}), faster. The harness checks the result on fresh inputs{second}, and "
        f"times ModelNew against Model interleaved in one process; the metric is the median "
        f"speedup over PyTorch eager. Rewrite it in PyTorch, or write a C/C++ kernel compiled "
        f"at run time with ckernel.compile (see ckernel.py), or a Triton or CUDA kernel for GPUs."
    )
    goal = "\n".join(textwrap.wrap(goal.replace("\\", "\\\\").replace('"', '\\"'), 95))
    if shrink:
        comment = (
            f"# cpu: shrunk for a small CPU, one eager call of the reference takes "
            f"{task.cpu_ms:.1f} ms (2 threads)\n# gpu: the problem's own sizes"
        )
    else:
        comment = (
            f"# the problem's own sizes; one eager CPU call of the reference takes "
            f"{task.cpu_ms:.1f} ms (2 threads)"
        )
    text = _TOML.format(
        file=task.source.name,
        name=_toml_str(task.name),
        title=_toml_str(title),
        goal=goal,
        shapes_comment=comment,
        cpu=", ".join(_toml_shape(s) for s in task.cpu_shapes),
        gpu=", ".join(_toml_shape(s) for s in task.gpu_shapes),
    )
    tomllib.loads(text)  # a bug here must not write a folder
    return text


def write_folder(task: ImportedTask, reference: bytes, solution: bytes, toml: str) -> None:
    """Write the folder whole under a temporary name, check it, then rename it into place."""
    from recursor.task.folder import load_task

    out = task.folder.parent
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{task.name}.", dir=out))
    old: Path | None = None
    try:
        (tmp / "reference.py").write_bytes(reference)
        (tmp / "solution.py").write_bytes(solution)
        shutil.copyfile(CKERNEL, tmp / "ckernel.py")
        (tmp / "task.toml").write_text(toml)
        (tmp / "ideas").mkdir()
        os.chmod(tmp, 0o755)
        try:
            load_task(tmp)
        except TaskError as err:
            raise _Skip(f"the task folder made from it is invalid: {'; '.join(err.problems)}") from None
        if task.folder.exists():  # only with force: checked before the work began
            old = Path(tempfile.mkdtemp(prefix=f".{task.name}.old.", dir=out))
            os.rename(task.folder, old / task.name)
        os.rename(tmp, task.folder)
    except OSError as err:
        raise _Skip(f"cannot write {task.folder}: {err}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
