"""`recursor mlflow RUN`: log a run to MLflow, a thin layer over `recursor.log_mlflow`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from recursor.cli.options import option_of
from recursor.errors import RecursorError

TrackingUri = Annotated[str | None, typer.Option(
    "--uri", help="The MLflow tracking server or store, e.g. http://mlflow:5000 or "
                  "sqlite:///mlflow.db (default: $MLFLOW_TRACKING_URI, else MLflow's own).")]
Experiment = option_of("mlflow_experiment")


def mlflow_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run folder, finished or still running.")],
    uri: TrackingUri = None,
    experiment: Experiment = None,
    follow: Annotated[bool, typer.Option(
        help="Keep logging while the run goes, until it ends.")] = False,
    every: Annotated[float, typer.Option(help="With --follow: seconds between logs.")] = 15.0,
) -> None:
    """Log a run to MLflow: one MLflow run for it, its nodes nested under it with their metrics,
    curves, patches and verdicts. Logging again adds only what is new."""
    import recursor

    err = Console(stderr=True)
    if not (run_dir / "run.db").is_file():
        err.print(f"[bold red]error:[/] {escape(str(run_dir))} is not a run folder (no run.db)")
        raise typer.Exit(2)
    try:
        while True:
            done = recursor.log_mlflow(run_dir, uri, experiment)
            err.print(f"{done.logged} node(s) logged ({done.nodes} in the run, "
                      f"{done.status}) to MLflow run {done.run_id} of experiment "
                      f"{done.experiment_id} at {escape(done.tracking_uri)}", highlight=False)
            if not follow or done.status != "running":
                return
            time.sleep(every)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except RecursorError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2) from None
