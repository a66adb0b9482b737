"""Import KernelBench problem files as kernel task folders (`recursor task import-kernelbench`).

    result = import_kernelbench("KernelBench/level1", "kernel-tasks", shrink=True)
    result.written   # the task folders made, e.g. kernel-tasks/kb-19_relu
    result.failed    # (problem file, one-line reason) of every file that was skipped

Each problem file becomes `OUT/kb-<file name>/` (see `recursor.task.kernel` for the layout):
`reference.py` is the file byte for byte, `solution.py` the same source with the class `Model`
renamed `ModelNew` (every reference to the name, found with the AST, so `super(Model, self)`
follows and `MyModel` or `ModelNew` do not change), `ckernel.py` a copy of the helper,
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
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recursor.errors import RecursorError, TaskError
from recursor.task.kernel.shrink import FLOOR, STRUCTURAL, _Skip

__all__ = [
    "ImportResult",
    "ImportedTask",
    "import_kernelbench",
    "problem_files",
    "rename_model",
    "size_constants",
    "task_name",
]

CKERNEL = Path(__file__).with_name("ckernel.py")
SHRINK = Path(__file__).with_name("shrink.py")  # run by path in the checking process
DEFAULT_OUT = Path("kernel-tasks")
TIMEOUT_SECONDS = 300.0  # one problem's check (and shrink search) in its subprocess

THREADS = 2

_NAME_OK = re.compile(r"[^a-z0-9._-]+")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


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


# ---------------------------------------------------------------- reading the source


def size_constants(tree: ast.Module) -> dict[str, int]:
    """Module-level names bound to an int constant expression, in the order of the file."""
    env: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            pairs = [p for t in node.targets for p in _pairs(t, node.value)]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            pairs = _pairs(node.target, node.value)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            pairs = [(n, None) for n in _target_names(node.target)]
        else:
            for n in _bound_names(node):
                env.pop(n, None)
            continue
        values = [(n, _const_int(v, env) if v is not None else None) for n, v in pairs]
        for n, v in values:
            env.pop(n, None)
            if v is not None:
                env[n] = v
    return env


def _pairs(target: ast.expr, value: ast.expr) -> list[tuple[str, ast.expr | None]]:
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, ast.Tuple | ast.List):
        if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts):
            return [p for t, v in zip(target.elts, value.elts, strict=True) for p in _pairs(t, v)]
        return [(n, None) for n in _target_names(target)]
    return []


def _target_names(target: ast.expr) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _bound_names(node: ast.stmt) -> list[str]:
    """Names a module-level statement may bind (looking inside if/for/with/try blocks)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    names = []
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.append(n.id)
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(n.name)
        elif isinstance(n, ast.Import | ast.ImportFrom):
            names += [(a.asname or a.name).split(".")[0] for a in n.names]
    return names


_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Pow: lambda a, b: a**b,
}
_BIG = 1 << 62


def _const_int(node: ast.expr, env: dict[str, int]) -> int | None:
    """The int value of numbers, known constants and + - * // **; None for anything else."""

    def ev(n: ast.expr) -> int | float:
        if isinstance(n, ast.Constant) and type(n.value) in (int, float):
            return n.value
        if isinstance(n, ast.Name) and n.id in env:
            return env[n.id]
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub | ast.UAdd):
            v = ev(n.operand)
            return -v if isinstance(n.op, ast.USub) else v
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            a, b = ev(n.left), ev(n.right)
            if isinstance(n.op, ast.Pow) and (not 0 <= b <= 64 or abs(a) > _BIG):
                raise ValueError("power too large")
            if isinstance(n.op, ast.FloorDiv) and b == 0:
                raise ValueError("division by zero")
            v = _OPS[type(n.op)](a, b)
            if abs(v) > _BIG:
                raise ValueError("too large")
            return v
        raise ValueError("not a constant expression")

    try:
        v = ev(node)
    except (ValueError, OverflowError, TypeError):
        return None
    return v if type(v) is int else None


def rename_model(source: str, old: str = "Model", new: str = "ModelNew") -> str:
    """`source` with the class `old` and every reference to that name renamed `new`.

    Works on the AST and the tokens: a Name or class statement called exactly `old` changes,
    while attributes (`x.Model`), strings, comments and other names (`MyModel`) do not.
    Raises ValueError if the source does not bind `old` or already uses `new`.
    """
    tree = ast.parse(source)
    lines = source.split("\n")

    def char_col(row: int, byte_col: int) -> int:
        return len(lines[row - 1].encode()[:byte_col].decode(errors="replace"))

    names = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in (old, new)]
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name in (old, new)]
    if any(n.id == new for n in names) or any(c.name == new for c in classes):
        raise ValueError(f"it already uses the name {new}")
    wanted = {(n.lineno, char_col(n.lineno, n.col_offset)) for n in names}
    class_lines = {(c.lineno, char_col(c.lineno, c.col_offset)) for c in classes}
    bound = bool(classes) or any(isinstance(n.ctx, ast.Store) for n in names)
    if not bound:
        raise ValueError(f"it defines no class {old}")

    spots: list[tuple[int, int]] = []
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME]
    for i, tok in enumerate(tokens):
        if tok.string == old and tok.start in wanted:
            spots.append(tok.start)
            wanted.discard(tok.start)
        elif (
            tok.string == "class"
            and tok.start in class_lines
            and i + 1 < len(tokens)
            and tokens[i + 1].string == old
        ):
            spots.append(tokens[i + 1].start)
    if wanted:
        row = min(wanted)[0]
        raise ValueError(f"cannot rename {old} at line {row} (inside an f-string?)")
    for row, col in sorted(spots, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + len(old) :]
    return "\n".join(lines)


def _defines(tree: ast.Module, name: str) -> bool:
    """Whether module-level code may bind `name` (a def, an assignment, an import)."""
    for node in tree.body:
        if name in _bound_names(node):
            return True
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return True
    return False


def _model_doc(tree: ast.Module) -> str:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Model":
            doc = ast.get_docstring(node) or ""
            return " ".join(doc.split("\n\n")[0].split())
    return ""


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
    missing = [n for n in ("Model", "get_inputs", "get_init_inputs") if not _defines(tree, n)]
    if missing:
        raise _Skip(
            f"it defines no {' and no '.join(missing)} (a KernelBench problem defines "
            f"class Model, get_inputs() and get_init_inputs())"
        )
    try:
        solution = rename_model(source)
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
    toml = _task_toml(task, _model_doc(tree), shrink)
    _write_folder(task, data, solution.encode(encoding), toml)
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


# ---------------------------------------------------------------- the task folder

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


def _task_toml(task: ImportedTask, doc: str, shrink: bool) -> str:
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


def _write_folder(task: ImportedTask, reference: bytes, solution: bytes, toml: str) -> None:
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
