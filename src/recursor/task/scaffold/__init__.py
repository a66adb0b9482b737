"""`recursor task init`: a task folder around a program of your own, in one command.

    init_task("my-task", train="python train.py --seed {seed}", metric="val_loss",
              score="python {scoring}/score.py --output {output}", scoring=["score.py"])

What goes where (the rule the CLI states too):

- `program`: the program's files and folders, as paths under `source` (the program's folder,
  default the current one); each is copied into the task folder at the same relative path and
  listed in task.toml's program.files: every experiment gets a fresh copy of them, and the
  program runs from a writable copy of that folder, so relative paths work. Default: the
  script `train` runs. A file that is not UTF-8 text (or holds a NUL byte), or is larger
  than ASSET_BYTES, is an *asset* instead (the program's data: nanoGPT's train.bin): kept in
  the task folder's `assets/` at the same relative path, hashed like the harness, and put
  into the program's folder by the harness for every run.
- `editable`: which of them an idea may change (default: the script `train` runs).
- `scoring`: files and folders only the score step sees (the scoring script, the held-out
  data); copied into the task folder's `scoring/` under their own names and listed as harness
  files, which recursor hashes before every experiment. The training run never sees them.

The folder's harness is `harness.py` of this package, copied as is; its docstring says what it
does and what it trusts. Bad input raises TaskError listing every problem at once.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from recursor.errors import TaskError
from recursor.harness import curve_pattern, placeholders
from recursor.task.scaffold import texts
from recursor.task.scaffold.plan import Plan

HARNESS = Path(__file__).with_name("harness.py")
TRAIN_PLACEHOLDERS = ("seed", "python", "threads", "progress_fd")
SCORE_PLACEHOLDERS = ("seed", "python", "threads", "scoring", "output")
SKIPPED = ("__pycache__", ".git", ".ipynb_checkpoints")
ASSET_BYTES = 1 << 20  # a program file larger than this is kept as an asset (text or not)
PYTHON = re.compile(r"^(\{python\}|python(\d+(\.\d+)?)?)$")


@dataclass(frozen=True)
class Scaffold:
    """What `init_task` wrote."""

    root: Path
    name: str
    program: tuple[str, ...]
    editable: tuple[str, ...]
    assets: tuple[str, ...]
    scoring: tuple[str, ...]
    idea: str | None  # the example idea's file, relative to root
    notes: tuple[str, ...] = field(default=())  # what the user still has to do


def init_task(dest: str | Path, *, train: str, metric: str, minimize: bool = True,
              score: str | None = None, curve_regex: str | None = None,
              total_steps: int | None = None, metric_regex: str | None = None,
              program: list[str | Path] | tuple = (), editable: list[str] | tuple = (),
              scoring: list[str | Path] | tuple = (), source: str | Path = ".",
              name: str | None = None, train_seconds: float = 600.0,
              score_seconds: float = 120.0, memory_mb: int = 4096, threads: int = 1,
              seeds: int = 3) -> Scaffold:
    """Write a task folder at `dest` (which must not exist, or be empty) and check it loads.

    `train` and `score` are command lines (split as a shell would, never run by one) with
    placeholders: `{seed}` (required in `train`), `{python}` (recursor's interpreter; a leading
    `python` means it too), `{threads}`, `{progress_fd}` (train: a pipe for JSON curve
    points), `{scoring}` and `{output}` (score: the scoring files' folder, and the file to write
    the result to as JSON). Raises TaskError listing every problem of the request."""
    plan = _check(Path(dest), train=train, metric=metric, minimize=minimize, score=score,
                  curve_regex=curve_regex, total_steps=total_steps, metric_regex=metric_regex,
                  program=program, editable=editable, scoring=scoring, source=Path(source),
                  name=name, train_seconds=train_seconds, score_seconds=score_seconds,
                  memory_mb=memory_mb, threads=threads, seeds=seeds)
    return _write(plan)


def _check(dest: Path, *, train, metric, minimize, score, curve_regex, total_steps,
           metric_regex, program, editable, scoring, source, name, train_seconds,
           score_seconds, memory_mb, threads, seeds) -> Plan:
    problems: list[str] = []
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        problems.append(f"{dest} exists and is not an empty folder: `recursor task init` writes "
                        "a new folder and never overwrites one")
    name = name or re.sub(r"[^a-z0-9._-]+", "-", dest.resolve().name.lower()).strip("-._")
    if not re.match(r"^[a-z0-9][a-z0-9._-]*$", name or ""):
        problems.append(f"--name {name!r}: a task's name is lower-case letters, digits, '.', "
                        "'_' and '-', starting with a letter or a digit")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", metric):
        problems.append(f"--metric {metric!r}: a metric's name is one word (letters, digits, "
                        "'_', '.', '-'), e.g. val_loss")

    train_argv = _command_problems("--train", train, TRAIN_PLACEHOLDERS, problems)
    if train_argv is not None and "seed" not in placeholders(train):
        problems.append("--train has no {seed}: every experiment runs with a seed of its own, "
                        "and the judge compares candidate and parent on the same seeds; pass it "
                        "to your program (e.g. --seed {seed}) and use it for every random choice")
    if score is not None:
        if _command_problems("--score", score, SCORE_PLACEHOLDERS, problems) is not None and \
                "output" not in placeholders(score):
            problems.append("--score has no {output}: the score step writes its result there, "
                            'as JSON (a number, or {"METRIC": number})')
        if metric_regex:
            problems.append("--score and --metric-regex both say where the metric comes from: "
                            "choose one (--score: your code computes it; --metric-regex: the "
                            "program's own output, which trusts the program)")

    curve_name = None
    if curve_regex is not None:
        try:
            _, names = curve_pattern(curve_regex)
            curve_name = next((n for n in names if n not in ("step", "progress", "tokens",
                                                             "lr")), None)
            if curve_name is None:
                problems.append(f"--curve-regex {curve_regex!r} captures no quantity to follow "
                                "beside step/progress: add a group such as (?P<loss>[0-9.]+)")
            if total_steps and "step" not in names:
                problems.append(f"--total-steps turns the curve's step into its progress, but "
                                f"--curve-regex {curve_regex!r} has no group named step: add "
                                r"(?P<step>\d+)")
        except ValueError as err:
            problems.append(f"--curve-regex: {err}")
        if train_argv is not None and "progress_fd" in placeholders(train):
            problems.append("--curve-regex and {progress_fd} in --train both give the curve: "
                            "choose one")
    elif total_steps and "progress_fd" not in placeholders(train):
        problems.append("--total-steps needs a curve: --curve-regex, or {progress_fd} in --train")
    if total_steps is not None and total_steps <= 0:
        problems.append(f"--total-steps {total_steps}: must be positive")
    if metric_regex is not None:
        try:
            _, names = curve_pattern(metric_regex, metric)
            if metric not in names:
                problems.append(f"--metric-regex {metric_regex!r} has no group named {metric}")
        except ValueError as err:
            problems.append(f"--metric-regex: {err}")

    for flag, value, low in (("--train-seconds", train_seconds, 0), ("--score-seconds",
                             score_seconds, 0), ("--memory-mb", memory_mb, 0)):
        if not value > low:
            problems.append(f"{flag} {value}: must be positive")
    if threads < 1:
        problems.append(f"--threads {threads}: at least 1")
    if seeds < 2:
        problems.append(f"--seeds {seeds}: at least 2 (the baseline's noise is measured on them)")

    files, script = _program_files(source, program, train_argv, problems)
    chosen = tuple(_relative(source, Path(e), problems, "--editable") for e in editable)
    chosen = tuple(e for e in chosen if e is not None)
    if not chosen and script is not None:
        chosen = (script,)
    for e in chosen:
        if e not in files:
            problems.append(f"--editable {e} is not among the program's files ({', '.join(files)})")
    if not chosen and files:
        problems.append("name the files an idea may change with --editable")
    if script is not None and files and script not in files:
        problems.append(f"--train runs {script}, which is not among the program's files: add "
                        f"--program {script}")
    score_files = _scoring_files(scoring, files, source, problems)
    assets = {rel: path for rel, path in files.items() if not _is_text(path)}
    for rel in chosen:
        if rel in assets:
            problems.append(f"--editable {rel} is not a UTF-8 text file under "
                            f"{ASSET_BYTES >> 20} MiB, so no idea can edit it")
    files = {rel: path for rel, path in files.items() if rel not in assets}
    if not files and not problems:
        problems.append("the program has no text file: --program must name its code")
    if problems:
        raise TaskError(str(dest), problems)
    return Plan(dest=dest, name=name, train=_python_first(train),
                script=script if script in files else None,
                score=_python_first(score) if score else None, metric=metric,
                minimize=minimize, curve_regex=curve_regex, curve_name=curve_name,
                total_steps=total_steps, metric_regex=metric_regex, program=files,
                editable=chosen, assets=assets, scoring=score_files, train_seconds=float(train_seconds),
                score_seconds=float(score_seconds), memory_mb=int(memory_mb),
                threads=int(threads), seeds=int(seeds))


def _command_problems(flag: str, template: str, known: tuple[str, ...],
                      problems: list[str]) -> list[str] | None:
    try:
        argv = shlex.split(template)
    except ValueError as err:
        problems.append(f"{flag} {template!r} cannot be split into arguments: {err}")
        return None
    if not argv:
        problems.append(f"{flag} is empty")
        return None
    unknown = sorted(placeholders(template) - set(known))
    if unknown:
        problems.append(f"{flag} names {', '.join('{' + u + '}' for u in unknown)}; the "
                        f"placeholders are {', '.join('{' + k + '}' for k in known)} (write {{{{ "
                        "and }} for a literal brace)")
    return argv


def _python_first(template: str) -> str:
    """`python train.py ...` as `{python} train.py ...`: in task.toml, what runs is explicit."""
    argv = shlex.split(template)
    if argv and PYTHON.match(argv[0]) and argv[0] != "{python}":
        head = template.lstrip()
        return "{python}" + head[len(argv[0]):] if head.startswith(argv[0]) else template
    return template


def _script(argv: list[str] | None) -> str | None:
    """The script a command runs, relative to the program's folder: `python x.py ...` -> x.py,
    `./run.sh ...` -> run.sh; None when it names none there."""
    if not argv:
        return None
    if PYTHON.match(argv[0]):
        rest = [a for a in argv[1:] if not a.startswith("-")]
        if not rest or argv[1:2] == ["-m"]:
            return None
        first = rest[0]
    else:
        first = argv[0]
    script = os.path.normpath(first)
    if "{" in script or os.path.isabs(script) or script.split(os.sep)[0] == "..":
        return None
    return Path(script).as_posix()


def _relative(source: Path, path: Path, problems: list[str], flag: str) -> str | None:
    """`path` (relative to the current folder, or absolute) as a path inside `source`."""
    full = path if path.is_absolute() else Path.cwd() / path
    try:
        return full.resolve().relative_to(source.resolve()).as_posix()
    except ValueError:
        problems.append(f"{flag} {path} is outside the program's folder {source} (--from): a "
                        "program file keeps its path relative to that folder")
        return None


def _program_files(source: Path, program, train_argv, problems) -> tuple[dict[str, Path],
                                                                          str | None]:
    if not source.is_dir():
        problems.append(f"--from {source}: no such folder")
        return {}, None
    script = _script(train_argv)
    given = list(program) or ([source / script] if script else [])
    if not given:
        problems.append("name the program's files with --program (the command's script was not "
                        "recognised)")
    files: dict[str, Path] = {}
    for p in given:
        full = Path(p)
        if not full.exists():
            problems.append(f"--program {p}: no such file or folder")
            continue
        rel = _relative(source, full, problems, "--program")
        if rel is None:
            continue
        for file in _walk(full):
            inside = full if file == "." else full / file
            files[rel if file == "." else f"{rel}/{file}"] = inside.resolve()
    return dict(sorted(files.items())), script


def _is_text(path: Path) -> bool:
    """Whether a program file can be a program file: recursor keeps those as text."""
    if path.stat().st_size > ASSET_BYTES:
        return False
    data = path.read_bytes()
    if b"\0" in data:  # git's test for binary: token ids of a small vocabulary pass as UTF-8
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _walk(path: Path) -> list[str]:
    """A file as ".", a folder as its files' relative paths (caches and VCS folders left out)."""
    if path.is_file():
        return ["."]
    out = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
        for n in sorted(names):
            if not n.endswith(".pyc"):
                out.append(Path(os.path.relpath(os.path.join(root, n), path)).as_posix())
    return out


def _scoring_files(scoring, program: dict[str, Path], source: Path,
                   problems: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    seen_in_program = {p.resolve(): rel for rel, p in program.items()}
    for p in scoring:
        path = Path(p)
        if not path.exists():
            problems.append(f"--scoring {p}: no such file or folder")
            continue
        for file in _walk(path):
            real = (path / file if file != "." else path).resolve()
            rel = f"scoring/{path.name}" + ("" if file == "." else f"/{file}")
            if real in seen_in_program:
                problems.append(f"--scoring {p}: {seen_in_program[real]} is also a program file, "
                                "so the program would see the scoring data; keep them apart")
            elif rel in out:
                problems.append(f"--scoring: two files would be {rel}; rename one")
            else:
                out[rel] = real
    return out


def _write(plan: Plan) -> Scaffold:
    """Write the folder next to its destination, check that it loads, then move it in place:
    a folder that does not load is never left behind."""
    from recursor.task.folder import idea_problems, load_task

    dest = plan.dest
    parent = dest.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=parent))
    try:
        assets = {f"assets/{rel}": src for rel, src in plan.assets.items()}
        for rel, src in [*plan.program.items(), *assets.items(), *plan.scoring.items()]:
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, staging / rel)
        shutil.copy(HARNESS, staging / "harness.py")
        idea = texts.example_idea(plan, staging)
        (staging / "task.toml").write_text(texts.task_toml(plan))
        notes = texts.notes(plan, idea)
        (staging / "README.md").write_text(texts.readme(plan, idea, notes))
        task = load_task(staging)  # raises TaskError: a bug here, said as plainly as any
        problems = idea_problems(task)
        if problems:
            raise TaskError(str(dest), problems)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Scaffold(root=dest.resolve(), name=plan.name, program=tuple(plan.program),
                    editable=plan.editable, assets=tuple(plan.assets), scoring=tuple(plan.scoring), idea=idea,
                    notes=tuple(notes))
