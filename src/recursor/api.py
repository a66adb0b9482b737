"""The Python API: everything the CLI does, callable from a notebook.

    import recursor

    run = recursor.run("tiny-lm", experiments=12, run_dir="runs/demo")
    run.report()["best"]            # the same dict as `recursor report --json`
    for node in run.nodes():        # frozen records: idea, status, per-seed metrics, verdict
        print(node.id, node.title, node.status, node.values("val_bpb"))

    run = recursor.open_run("runs/demo")      # read a run, live or finished
    recursor.resume("runs/demo")              # continue an interrupted run
    recursor.log_mlflow("runs/demo", "http://mlflow:5000")   # or run(..., mlflow=URI)
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursor.settings import SETTINGS, Launch, RunConfig, describe, keyword_parameters, keywords
from recursor.store import Node, RunStore

if TYPE_CHECKING:
    from recursor.loop.progress import Observer
    from recursor.proposer import Proposer
    from recursor.task import Task


class Run:
    """A run folder, read through its store. Cheap to create; reads are always fresh."""

    def __init__(self, run_dir: Path | str):
        self.run_dir = Path(run_dir)
        self._store = RunStore.open(self.run_dir, readonly=True)

    def nodes(self) -> list[Node]:
        return self._store.nodes()

    def node(self, node_id: int) -> Node:
        return self._store.node(node_id)

    def files(self, node_id: int) -> dict[str, str]:
        """The program files of a node (path -> text), as its experiments ran them."""
        return self._store.files(self._store.node(node_id))

    def curve(self, evaluation_id: int) -> list[dict[str, Any]]:
        return self._store.curve(evaluation_id)

    def events(self, limit: int = 1000) -> list[dict[str, Any]]:
        return self._store.events(limit)

    @property
    def status(self) -> str:
        from recursor.report.summary import run_status

        return run_status(self._store)

    @property
    def meta(self) -> dict[str, Any]:
        """What the run records about itself: task, config, created_at, finished_at, ..."""
        return self._store.meta()

    @property
    def config(self) -> RunConfig:
        return RunConfig.from_json(self._store.meta()["config"])

    @property
    def task(self) -> Task:
        from recursor.loop.setup import run_task_snapshot

        return run_task_snapshot(self._store)

    def report(self) -> dict[str, Any]:
        from recursor.report.summary import build_report

        return build_report(self._store)

    def path(self, rel: str | None) -> Path | None:
        """Absolute path of an artifact a node records (patch, diff, workspace, job folder)."""
        return self._store.path(rel)

    def close(self) -> None:
        self._store.close()

    def __repr__(self) -> str:
        return f"Run({str(self.run_dir)!r}, status={self.status!r})"


def run(task: str | Path, *, ideas: Sequence[Path | str] = (), observer: Observer | None = None,
        **settings: Any) -> Run:
    """Start a research run on `task` (a built-in name or a task folder) and drive it to its end.

    The keywords are the run settings of `recursor.settings`, listed below with their defaults
    and help (the same as `recursor run --help`), and two that are not settings: `ideas` adds
    folders of idea files to the task's library, and `observer` is told the run's progress.
    `proposer` also takes your own proposer object in place of a name (see
    `recursor.proposer.Proposer`); the run records it as "library". `models` names models
    ("openai:gpt-4o-mini", "anthropic:claude-sonnet-4-5"), read with `base_url`,
    `context_tokens` and `models_file`; each model works as every persona of `personas`.
    `executor="ray"` needs `pip install 'recursor[ray]'` and the run folder on a file system
    every Ray node shares. `mlflow` logs the run to MLflow as it goes; see `log_mlflow`.
    Returns the finished run. Ctrl-C stops it cleanly; `resume` continues it.
    """
    from recursor.loop.setup import create_run, drive

    given = keywords(settings, SETTINGS)
    launch = Launch.from_keywords(given)
    # the model names become stored endpoints with the launch settings that say how to reach them
    endpoints = _endpoints(given["models"], launch.models_file, launch.base_url,
                           launch.context_tokens)
    config = RunConfig.from_keywords({**given, "models": tuple(e.to_json() for e in endpoints)})
    uri = _check_mlflow(launch.mlflow)
    store = create_run(task, config, launch.run_dir, ideas)
    proposer = given["proposer"]
    try:
        with _mlflow_follower(store.run_dir, uri, launch.mlflow_experiment):
            drive(store, observer, None if isinstance(proposer, str) else proposer)
    finally:
        store.close()
    return Run(store.run_dir)


# help(recursor.run) and a notebook's completion show every setting as a keyword
run.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
    inspect.Parameter("task", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="str | Path"),
    *keyword_parameters(SETTINGS),
    inspect.Parameter("ideas", inspect.Parameter.KEYWORD_ONLY, default=(),
                      annotation="Sequence[Path | str]"),
    inspect.Parameter("observer", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation="Observer | None"),
], return_annotation="Run")
if run.__doc__:  # None under python -OO
    run.__doc__ += describe(SETTINGS, indent="    ")


def _check_mlflow(uri: str | None) -> str | None:
    if uri is None:
        return None
    from recursor.report.mlflow_log import check_tracking

    return check_tracking(uri or None)


def _mlflow_follower(run_dir: Path, uri: str | None, experiment: str | None) -> Any:
    import contextlib

    if uri is None:
        return contextlib.nullcontext()
    from recursor.report.mlflow_log import Follower

    return Follower(run_dir, uri, experiment)


def _endpoints(models: Sequence[str], models_file: Path | str | None,
               base_url: str | None, context_tokens: int | None = None) -> list[Any]:
    from recursor.proposer.llm.endpoint import load_models, parse_model

    options: dict[str, Any] = {"base_url": base_url} if base_url else {}
    if context_tokens is not None:
        options["context_tokens"] = context_tokens
    found = [parse_model(m, **options) for m in models]
    if models_file is not None:
        found += load_models(models_file)
    return found


def resume(
    run_dir: Path | str,
    *,
    experiments: int | None = None,
    minutes: float | None = None,
    workers: int | None = None,
    observer: Observer | None = None,
    proposer: Proposer | None = None,
    ray_address: str | None = None,
    mlflow: str | None = None,
    mlflow_experiment: str | None = None,
) -> Run:
    """Continue a run after Ctrl-C or a crash; nothing finished is run again.

    `experiments` or `minutes` may raise the run's budget; a finished run with a raised budget
    continues from where it ended. `ray_address` runs the rest on the Ray cluster there (a
    new address of the run's cluster, or a local run moved to Ray). `mlflow` logs it to MLflow
    as it goes, as in `run`.
    """
    from recursor.loop.setup import drive, extend_budget

    uri = _check_mlflow(mlflow)
    store = RunStore.open(run_dir)
    try:
        extend_budget(store, experiments, minutes, workers, ray_address)
        if not store.meta().get("finished_at"):
            with _mlflow_follower(store.run_dir, uri, mlflow_experiment):
                drive(store, observer, proposer)
    finally:
        store.close()
    return Run(run_dir)


def try_patches(
    task: str | Path,
    patches: Sequence[str | Path],
    *,
    run_dir: Path | str | None = None,
    workers: int | None = None,
    overrides: dict[str, Any] | None = None,
    sandbox: str = "auto",
    heldout: bool = True,
    alpha: float = 0.02,
    discoveries: bool = False,
) -> list[dict[str, Any]]:
    """Judge given changes (unified diffs or SEARCH/REPLACE blocks; text or file paths), each
    against the task's baseline, with the full judge and auditor. Returns one verdict per patch
    (`status`, `reasons`, `seeds`, `mean`, `baseline_mean`, `improvement_pct`, `audit`, ...).
    A trial judges and does not research: it keeps nothing in the discovery library unless
    `discoveries` is set."""
    from recursor.errors import RecursorError
    from recursor.loop.trial import GivenPatch, GivenPatches, verdict

    given = []
    for i, p in enumerate(patches, start=1):
        if isinstance(p, str) and "\n" in p:  # the patch itself, not a file name
            given.append(GivenPatch(f"patch {i}", p))
        elif Path(p).is_file():
            given.append(GivenPatch(Path(p).name, Path(p).read_text()))
        else:
            raise RecursorError(f"no patch file {p}")
    done = run(task, run_dir=run_dir, experiments=len(given), workers=workers, alpha=alpha,
               overrides=overrides, proposer=GivenPatches(given), sandbox=sandbox,
               heldout=heldout, discoveries=discoveries)
    try:
        nodes = done.nodes()
        spec = done.task.spec
        baseline = next(n for n in nodes if n.is_baseline)
        box = done.meta.get("sandbox") or {}
        return [{**verdict(n, baseline, spec.metric.name, spec.seeds.values, spec.minimize),
                 "sandbox": box.get("kind")} for n in nodes if not n.is_baseline]
    finally:
        done.close()


def try_patch(task: str | Path, patch: str | Path, **options: Any) -> dict[str, Any]:
    """`try_patches` for one patch: its verdict."""
    return try_patches(task, [patch], **options)[0]


def open_run(run_dir: Path | str) -> Run:
    """Open a run folder for reading (while it runs, or after)."""
    return Run(run_dir)


def reproduce(discovery: str, **options: Any) -> dict[str, Any]:
    """Run a discovery of the library again on fresh seeds; see `recursor.library.reproduce`."""
    from recursor.library.reproduce import reproduce as run_again

    return run_again(discovery, **options)


def log_mlflow(run_dir: Path | str, tracking_uri: str | None = None,
               experiment: str | None = None) -> Any:
    """Log a run (finished or not) to MLflow at `tracking_uri` (default: MLflow's own,
    `$MLFLOW_TRACKING_URI`): the run with its nodes nested under it, their metrics, curves,
    patches and verdicts. Safe to call again: only what is new is logged. Needs
    `pip install 'recursor[mlflow]'`; see `recursor.report.mlflow_log`."""
    from recursor.report.mlflow_log import log_run

    return log_run(run_dir, tracking_uri, experiment)


def export(run_dir: Path | str, out: Path | str | None = None) -> list[Path]:
    """Write an invention report per accepted step of a run (default under RUN/export); see
    `recursor.report.export`. Returns the step folders."""
    from recursor.report.export import export as write

    return write(run_dir, out)
