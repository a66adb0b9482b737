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

import contextlib
import inspect
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursor.loop.reproduce import reproduce as run_again
from recursor.loop.setup import drive, extend_budget, research
from recursor.loop.trial import try_patches
from recursor.report.export import export as write_export
from recursor.report.mlflow_log import Follower, check_tracking, log_run
from recursor.report.run import Run, open_run
from recursor.settings import SETTINGS, Launch, describe, keyword_parameters
from recursor.store import RunStore

if TYPE_CHECKING:
    from recursor.loop.progress import Observer
    from recursor.proposer import Proposer

__all__ = ["Run", "export", "log_mlflow", "open_run", "reproduce", "resume", "run", "try_patch",
           "try_patches"]


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
    _check_objective(task, settings)
    return Run(research(task, ideas=ideas, observer=observer, follow=_mlflow, **settings))


def _check_objective(task: str | Path, settings: dict[str, Any]) -> None:
    """An objective the task does not have fails here, before anything of the run is made."""
    if settings.get("objective") is None:
        return
    from recursor.task import load_task
    from recursor.task.objectives import for_objective

    for_objective(load_task(task, settings.get("overrides") or {}), settings["objective"])


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
    return check_tracking(uri or None)


def _mlflow_follower(run_dir: Path, uri: str | None, experiment: str | None) -> Any:
    if uri is None:
        return contextlib.nullcontext()
    return Follower(run_dir, uri, experiment)


def _mlflow(launch: Launch) -> Callable[[Path], AbstractContextManager[Any]]:
    """What `run` wraps around driving the run: MLflow's follower when `mlflow` is set. The
    tracking URI is checked here, before the run is created."""
    uri = _check_mlflow(launch.mlflow)

    def follower(run_dir: Path) -> AbstractContextManager[Any]:
        return _mlflow_follower(run_dir, uri, launch.mlflow_experiment)

    return follower


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


def try_patch(task: str | Path, patch: str | Path, **options: Any) -> dict[str, Any]:
    """`try_patches` for one patch: its verdict."""
    return try_patches(task, [patch], **options)[0]


def reproduce(discovery: str, **options: Any) -> dict[str, Any]:
    """Run a discovery of the library again on fresh seeds; see `recursor.loop.reproduce`."""
    return run_again(discovery, **options)


def log_mlflow(run_dir: Path | str, tracking_uri: str | None = None,
               experiment: str | None = None) -> Any:
    """Log a run (finished or not) to MLflow at `tracking_uri` (default: MLflow's own,
    `$MLFLOW_TRACKING_URI`): the run with its nodes nested under it, their metrics, curves,
    patches and verdicts. Safe to call again: only what is new is logged. Needs
    `pip install 'recursor[mlflow]'`; see `recursor.report.mlflow_log`."""
    return log_run(run_dir, tracking_uri, experiment)


def export(run_dir: Path | str, out: Path | str | None = None) -> list[Path]:
    """Write an invention report per accepted step of a run (default under RUN/export); see
    `recursor.report.export`. Returns the step folders."""
    return write_export(run_dir, out)
