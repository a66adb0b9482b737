"""Import KernelBench problem files as kernel task folders (`recursor task import-kernelbench`).

    result = import_kernelbench("KernelBench/level1", "kernel-tasks", shrink=True)
    result.written   # the task folders made, e.g. kernel-tasks/kb-19_relu
    result.failed    # (problem file, one-line reason) of every file that was skipped

Each problem file becomes `OUT/kb-<file name>/` (see `recursor.task.kernel` for the layout):
`reference.py` is the file byte for byte, `solution.py` the same source with the class `Model`
renamed `ModelNew` (every reference to the name, found with the AST, so `super(Model, self)`
follows and `MyModel` or `ModelNew` do not change) and without `get_inputs` and
`get_init_inputs` unless it uses them (the harness calls the reference's), `ckernel.py` a copy of the helper,
`task.toml` and an empty `ideas/`. A folder is written to a temporary name and renamed into
place only once it is whole and `load_task` accepts it; an existing one is replaced only with
`force`.

Every problem is checked in a fresh Python process (a bad file cannot hang or crash the
importer): it must define `Model`, `get_inputs` and `get_init_inputs`, `Model(*get_init_inputs())`
must build and its forward must run on `get_inputs()` at the shape chosen for the CPU.

Shapes. The size constants are the module-level names bound to an int, or to an expression of
numbers, earlier constants and `+ - * // **` (`M = 1024 * 2`), evaluated on the AST, never run.
Without `shrink` the CPU and GPU shapes are the file's own values. With `shrink` the constants
are scaled down until one eager CPU call of the reference (2 threads) takes 10-50 ms (aiming at
20): first on the meta device, without allocating, to a start of about 4 MB of inputs, outputs
and parameters, then by timing real calls (at most 256 MB). Kept as they are:

- structural constants, whose name contains kernel, stride, pad, dilation, group, head, channel,
  layer, window, pool or factor: they define the operation (a conv's channel counts set its
  weights and its work per pixel), and batch and spatial sizes leave room enough to shrink;
- constants of 16 or less: axes (`dim = 1`), small counts and batch sizes of a few;
- constants that change no size (a loop count, a size the problem writes out again as a
  literal) or that the reference refuses to see shrunk alone: each group of equal values is
  halved on the meta device, the others kept, to find them.

The others are scaled by one common factor (equal values stay equal: a square matmul stays
square), rounded to a multiple of the power of two (at most 8) that divides the original, never
below 16, so that divisibility the problem needs (by heads, groups) survives; a shape the
reference refuses is retried with multiples of up to 64, then with a larger factor. The second
CPU shape, for correctness only, moves each shrinkable constant s to max(1, s*3//4 + 1) (odd
sizes near the timed ones), or failing that to a nearby multiple of its power of two; it is kept
only if the reference runs on it. The GPU shapes are the original and the same move of it,
checked on the meta device.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recursor.errors import RecursorError
from recursor.task.kernel.shrink import FLOOR, STRUCTURAL, _Skip
from recursor.task.kernel.source import (
    defines,
    drop_functions,
    model_doc,
    rename_model,
    size_constants,
)
from recursor.task.kernel.task_folder import ImportedTask, task_toml, write_folder

__all__ = [
    "ImportResult",
    "ImportedTask",
    "import_kernelbench",
    "problem_files",
    "rename_model",
    "size_constants",
    "task_name",
]

SHRINK = Path(__file__).with_name("shrink.py")  # run by path in the checking process
DEFAULT_OUT = Path("kernel-tasks")
TIMEOUT_SECONDS = 300.0  # one problem's check (and shrink search) in its subprocess

THREADS = 2
INPUT_MAKERS = ("get_inputs", "get_init_inputs")  # the reference's; solution.py needs none

_NAME_OK = re.compile(r"[^a-z0-9._-]+")


@dataclass
class ImportResult:
    """What `import_kernelbench` did: the folders written and the files skipped, with why."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (problem file, reason)
    tasks: list[ImportedTask] = field(default_factory=list)  # details of `written`, same order

    @property
    def ok(self) -> bool:
        return not self.failed


def import_kernelbench(
    path: str | Path,
    out: str | Path = DEFAULT_OUT,
    shrink: bool = False,
    force: bool = False,
    *,
    timeout: float = TIMEOUT_SECONDS,
    on_result: Callable[[Path, ImportedTask | str], None] | None = None,
) -> ImportResult:
    """Import one KernelBench problem file, or every `*.py` under a folder (but not under
    `out`), as task folders in `out`.

    A bad problem is skipped with a one-line reason in `failed` and the others are still
    imported; an existing task folder is replaced only with `force`. `shrink` scales the size
    constants down for a CPU (see the module's doc). `on_result(file, task_or_reason)` is called
    as each file is done. Raises RecursorError if `path` holds no problem file.
    """
    out = Path(out)
    inside_out = out.resolve()
    files = [f for f in problem_files(path) if not f.resolve().is_relative_to(inside_out)]
    result = ImportResult()
    taken: dict[str, Path] = {}
    for file in files:
        try:
            name = task_name(file)
            if name in taken:
                raise _Skip(f"its task name {name} is already taken by {taken[name]}")
            taken[name] = file
            task = _import_one(file, name, out, shrink, force, timeout)
        except _Skip as err:
            result.failed.append((file, str(err)))
            if on_result:
                on_result(file, str(err))
            continue
        result.written.append(task.folder)
        result.tasks.append(task)
        if on_result:
            on_result(file, task)
    return result


def problem_files(path: str | Path) -> list[Path]:
    """The problem file itself, or every `*.py` below the folder (sorted, no `__init__.py`)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RecursorError(f"no problem file or folder {path}")
    files = sorted(
        p
        for p in path.rglob("*.py")
        if p.is_file()
        and p.name != "__init__.py"
        and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(path).parts)
    )
    if not files:
        raise RecursorError(f"{path} holds no *.py problem file")
    return files


def task_name(file: str | Path) -> str:
    """`19_ReLU.py` -> `kb-19_relu`: lowercase, [a-z0-9._-] only (others become '-')."""
    stem = _NAME_OK.sub("-", Path(file).stem.lower()).strip("-")
    return f"kb-{stem or 'problem'}"


# ---------------------------------------------------------------- one problem


def _import_one(file: Path, name: str, out: Path, shrink: bool, force: bool, timeout: float) -> ImportedTask:
    dest = out / name
    if dest.exists() and not force:
        raise _Skip(f"task folder {dest} exists; pass --force to replace it")
    try:
        data = file.read_bytes()
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        source = data.decode(encoding)
    except (OSError, SyntaxError, UnicodeDecodeError, LookupError) as err:
        raise _Skip(f"cannot read it: {err}") from None
    try:
        tree = ast.parse(source, filename=str(file))
    except SyntaxError as err:
        raise _Skip(f"syntax error at line {err.lineno}: {err.msg}") from None
    missing = [n for n in ("Model", *INPUT_MAKERS) if not defines(tree, n)]
    if missing:
        raise _Skip(
            f"it defines no {' and no '.join(missing)} (a KernelBench problem defines "
            f"class Model, get_inputs() and get_init_inputs())"
        )
    try:
        solution = drop_functions(rename_model(source), INPUT_MAKERS)
    except (ValueError, SyntaxError, tokenize.TokenError) as err:
        raise _Skip(f"cannot make solution.py: {err}") from None
    constants = size_constants(tree)
    eligible = [k for k, v in constants.items() if v > FLOOR and not STRUCTURAL.search(k)]
    answer = _check(file, solution, constants, eligible, shrink, timeout)
    task = ImportedTask(
        name=name,
        folder=dest,
        source=file,
        cpu_shapes=tuple(answer["cpu"]),
        gpu_shapes=tuple(answer["gpu"]),
        cpu_ms=float(answer["ms"]),
        notes=tuple(answer["notes"]),
    )
    toml = task_toml(task, model_doc(tree), shrink)
    write_folder(task, data, solution.encode(encoding), toml)
    return task


def _check(
    file: Path, solution: str, constants: dict[str, int], eligible: list[str], shrink: bool, timeout: float
) -> dict[str, Any]:
    """Run the problem in a fresh process (see `_worker_main`); its answer, or _Skip."""
    job = {
        "file": str(file.resolve()),
        "solution": solution,
        "constants": constants,
        "eligible": eligible,
        "shrink": shrink,
        "threads": THREADS,
    }
    boot = (
        "import importlib.util, sys; "
        "s = importlib.util.spec_from_file_location('_recursor_kb_importer', sys.argv[1]); "
        "m = sys.modules[s.name] = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
        "m._worker_main(sys.argv[2], sys.argv[3])"
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(THREADS),
        "MKL_NUM_THREADS": str(THREADS),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with tempfile.TemporaryDirectory(prefix="recursor-kb-") as tmp:
        job_file, answer_file = Path(tmp) / "job.json", Path(tmp) / "answer.json"
        job_file.write_text(json.dumps(job))
        proc = subprocess.Popen(
            [sys.executable, "-c", boot, str(SHRINK), str(job_file), str(answer_file)],
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise _Skip(f"timed out after {timeout:g} s (importing, building or running it)") from None
        except BaseException:  # Ctrl-C: the process is in its own session and would not see it
            _kill(proc)
            raise
        if answer_file.is_file():
            answer = json.loads(answer_file.read_text())
            if not answer["ok"]:
                raise _Skip(answer["reason"])
            return answer
    if proc.returncode < 0:
        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
        raise _Skip(f"it crashed the Python process that ran it ({sig})")
    last = [ln for ln in stderr.splitlines() if ln.strip()][-1:] or ["no message"]
    raise _Skip(f"the process that ran it exited with code {proc.returncode}: {last[0][:200]}")


def _kill(proc: subprocess.Popen) -> None:
    """End the checking process and anything it started (its own session), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
