"""Starting and resuming runs: the run folder, the task snapshot, and the parts of the loop.

A run keeps a copy of its task folder (`RUN/task/`), so that resuming after an upgrade, or after
someone edits the task, continues with the harness and ideas the run started with; the harness
files are hashed when the run is created and checked before every experiment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import recursor
from recursor.discoveries import default_location
from recursor.errors import BudgetError, TaskError
from recursor.executor import EXECUTORS, Executor
from recursor.executor.cache import CachedExecutor
from recursor.executor.sandbox import detect
from recursor.loop.config import RunConfig, default_workers
from recursor.loop.engine import ResearchLoop
from recursor.loop.jobs import resolve_data
from recursor.loop.lock import RunLock
from recursor.loop.progress import Observer
from recursor.loop.snapshot import SNAPSHOT, run_task_snapshot
from recursor.policy import Tuning, make_policy
from recursor.proposer import Proposer
from recursor.proposer.factory import build_proposer
from recursor.proposer.llm.endpoint import load_models, parse_model
from recursor.settings import SETTINGS, Launch, keywords
from recursor.settings.process import load_process, with_process
from recursor.store import RunStore
from recursor.task import Task, load_task


def default_run_dir(task_name: str) -> Path:
    return Path("runs") / f"{task_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def create_run(
    task_ref: str | Path,
    config: RunConfig,
    run_dir: Path | str | None = None,
    extra_ideas: Sequence[Path | str] = (),
) -> RunStore:
    """Validate the task, snapshot it into a new run folder, and record the run's settings.
    A run that cannot be created leaves no folder behind (see `research`)."""
    task = load_task(task_ref, config.overrides)
    run_dir = Path(run_dir) if run_dir else default_run_dir(task.name)
    before = _entries(run_dir)
    store = RunStore.create(run_dir, {})
    try:
        return _record(store, task, config, extra_ideas)
    except BaseException:
        store.close()
        _forget(run_dir, before)
        raise


def _record(store: RunStore, task: Task, config: RunConfig,
            extra_ideas: Sequence[Path | str]) -> RunStore:
    run_dir = store.run_dir
    snapshot = run_dir / SNAPSHOT
    shutil.copytree(task.root, snapshot, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _add_ideas(snapshot / task.spec.ideas.dir, extra_ideas)
    task = load_task(snapshot, config.overrides)  # the snapshot must load as the original did
    store.set_meta("task", task.name)
    if config.discoveries and config.discoveries_dir is None:
        config = dataclasses.replace(config, discoveries_dir=str(default_location().resolve()))
    store.set_meta("config", config.to_json())
    store.set_meta("harness_hashes", task.harness_hashes())
    store.set_meta("created_at", time.time())
    store.set_meta("recursor_version", recursor.__version__)
    return store


def started(store: RunStore) -> bool:
    """Whether any experiment of the run has started: until then it holds nothing that a
    second attempt would not make again."""
    return any(node.evaluations for node in store.nodes())


def _entries(run_dir: Path | None) -> set[str] | None:
    """What a folder held before a run was created in it; None when there was no folder."""
    return {p.name for p in run_dir.iterdir()} if run_dir is not None and run_dir.is_dir() else None


def _forget(run_dir: Path, before: set[str] | None) -> None:
    """Remove what a run that never started wrote: its folder, or, in a folder that was there
    before, only the entries the run added (the caller's own files stay)."""
    if before is None:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for child in run_dir.iterdir():
        if child.name in before:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _add_ideas(target: Path, folders: Sequence[Path | str]) -> None:
    for folder in folders:
        folder = Path(folder)
        files = sorted(folder.glob("*.toml"))
        if not files:
            raise TaskError(str(folder), ["no idea files (*.toml) in this folder"])
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            if (target / f.name).exists():
                raise TaskError(str(folder), [f"{f.name}: the task already has an idea of that "
                                              "name; rename the file"])
            shutil.copy2(f, target / f.name)


def make_executor(config: RunConfig, workers: int, threads: int = 1) -> Executor:
    """The executor the run asks for (`recursor.executor.EXECUTORS`), behind the run's result
    cache if it names one. `threads` is one experiment's CPUs, to size a local Ray instance."""
    executor = EXECUTORS[config.executor](workers, threads, config.ray_address)
    return CachedExecutor(executor, config.cache) if config.cache else executor


def drive(store: RunStore, observer: Observer | None = None,
          proposer: Proposer | None = None) -> str:
    """Run (or continue) the loop of an existing run folder until its budget is spent.

    `proposer` replaces the built-in library proposer (any object with the `Proposer` methods).
    """
    meta = store.meta()
    config = RunConfig.from_json(meta["config"])
    task = run_task_snapshot(store)
    limits = task.spec.limits
    workers = config.workers or default_workers(limits.threads, limits.memory_mb)
    data_paths = resolve_data(task)
    sandbox = detect(config.sandbox)
    store.set_meta("sandbox", {"kind": sandbox.kind, "describe": sandbox.describe()})
    with RunLock(store.run_dir):
        loop = ResearchLoop(
            store,
            task,
            config,
            proposer=proposer or build_proposer(config, store, task),
            policy=make_policy(config.policy, task.spec.search,
                               Tuning(config.exploration, config.descendant_credit)),
            workers=workers,
            data_paths=data_paths,
            sandbox=sandbox,
            observer=observer,
            # last: a Ray instance is only started once everything else is in place
            executor=make_executor(config, workers, limits.threads),
        )
        return loop.run()


# What a caller wraps around driving a new run, chosen from its launch settings before the run
# is created (so a bad tracking URI fails first): the API follows the run in MLflow with it.
Follow = Callable[[Launch], Callable[[Path], AbstractContextManager[Any]]]


def research(task: str | Path, *, ideas: Sequence[Path | str] = (), observer: Observer | None = None,
             follow: Follow | None = None, **settings: Any) -> Path:
    """Create a run of `task` from the keywords of `recursor.run` and drive it to its end; its
    run folder."""
    given = keywords(settings, SETTINGS)
    launch = Launch.from_keywords(given)
    if launch.process is not None:
        given = with_process(given, settings, load_process(launch.process))
    # the model names become stored endpoints with the launch settings that say how to reach them
    endpoints = _endpoints(given["models"], launch.models_file, launch.base_url,
                           launch.context_tokens)
    config = RunConfig.from_keywords({**given, "models": tuple(e.to_json() for e in endpoints)})
    wrap = follow(launch) if follow is not None else None
    before = _entries(Path(launch.run_dir) if launch.run_dir is not None else None)
    store = create_run(task, config, launch.run_dir, ideas)
    proposer = given["proposer"]
    try:
        with wrap(store.run_dir) if wrap is not None else contextlib.nullcontext():
            drive(store, observer, None if isinstance(proposer, str) else proposer)
    except BaseException:
        # data not found, no sandbox, a model or Ray that cannot be reached: nothing ran, so
        # nothing is lost, and the same command can simply be run again once it is fixed
        if not started(store):
            store.close()
            _forget(store.run_dir, before)
        raise
    finally:
        store.close()
    return store.run_dir


def _endpoints(models: Sequence[str], models_file: Path | str | None,
               base_url: str | None, context_tokens: int | None = None) -> list[Any]:
    options: dict[str, Any] = {"base_url": base_url} if base_url else {}
    if context_tokens is not None:
        options["context_tokens"] = context_tokens
    found = [parse_model(m, **options) for m in models]
    if models_file is not None:
        found += load_models(models_file)
    return found


def extend_budget(store: RunStore, experiments: int | None, minutes: float | None,
                  workers: int | None, ray_address: str | None = None) -> RunConfig:
    """Raise a run's budget (never lower it) and make a finished run resumable again.
    A `ray_address` moves the rest of the run to that Ray cluster."""
    config = RunConfig.from_json(store.meta()["config"])
    data = config.to_json()
    if experiments is not None:
        if config.experiments is not None and experiments < config.experiments:
            raise BudgetError(f"the run's budget is already {config.experiments} experiments; "
                              "resume can raise it, not lower it")
        data["experiments"] = experiments
    if minutes is not None:
        data["minutes"] = minutes
    if workers is not None:
        data["workers"] = workers
    if ray_address is not None:
        data.update(executor="ray", ray_address=ray_address)
    new = RunConfig.from_json(data)
    if new != config:
        store.set_meta("config", new.to_json())
        store.set_meta("finished_at", None)
    return new
