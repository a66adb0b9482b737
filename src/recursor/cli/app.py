"""`recursor`: the command line, a thin layer over `recursor.api`.

    recursor tasks
    recursor validate TASK [--run]
    recursor run TASK [--experiments N] [--minutes M] [--policy NAME] [--proposer KIND] [--workers N]
    recursor status RUN
    recursor report RUN [--json | --markdown | --html] [--output FILE]
    recursor ui [RUNS] [--host 127.0.0.1] [--port 8765]
    recursor show RUN NODE
    recursor resume RUN
    recursor try TASK --patch FILE [--json]
    recursor discoveries [show ID | add RUN | remove ID]
    recursor reproduce DISCOVERY
    recursor export RUN [--out DIR]
    recursor mlflow RUN [--uri URI] [--follow]
    recursor selfplay FOLDER [--rounds N] [--experiments N] [--family guard|chat]
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from recursor.cli import options
from recursor.cli.discoveries_cmd import discoveries_app, export_cmd, reproduce_cmd
from recursor.cli.mlflow_cmd import Experiment, mlflow_cmd
from recursor.cli.task_cmd import task_app
from recursor.cli.ui_cmd import ui_cmd
from recursor.errors import RecursorError
from recursor.settings import SETTINGS, Setting

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="recursor: automated AI research whose verdicts survive noise.",
    pretty_exceptions_enable=False,
)
app.add_typer(task_app, name="task", help="Make task folders: init, import-kernelbench.")
app.add_typer(discoveries_app, name="discoveries")
app.command("reproduce")(reproduce_cmd)
app.command("export")(export_cmd)
app.command("ui")(ui_cmd)
app.command("mlflow")(mlflow_cmd)
console = Console()
if not console.is_terminal:  # a log file or a pipe: wide enough that tables do not fold
    console = Console(width=160)
err_console = Console(stderr=True)

RunDir = Annotated[Path, typer.Argument(help="A run folder (made by `recursor run`).")]
TaskName = Annotated[str, typer.Argument(help="A built-in task's name or a task folder.")]
Override = options.option_of("overrides")
MlflowUri = options.option_of("mlflow")


def _fail(err: Exception) -> None:
    from rich.markup import escape

    # escaped: messages name task.toml's tables ([[space]]) and extras ('recursor[ray]')
    err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def tasks() -> None:
    """List the built-in tasks."""
    from rich.table import Table

    from recursor.task import builtin_tasks, load_task

    table = Table(header_style="bold")
    for col in ("task", "what it improves", "metric", "ideas", "folder"):
        table.add_column(col, overflow="fold")
    for name, folder in builtin_tasks().items():
        task = load_task(folder)
        m = task.spec.metric
        table.add_row(name, task.spec.title, f"{m.name} ({m.direction})", str(len(task.ideas)),
                      str(folder))
    console.print(table)


@app.command()
def validate(
    task: TaskName,
    override: Override = None,
    run: Annotated[bool, typer.Option(
        "--run", help="Also run one baseline experiment (one seed) through the harness and "
                      "show its metric, curve, time and logs.")] = False,
    seed: Annotated[int | None, typer.Option(
        help="With --run: the seed (default: the task's first).")] = None,
    sandbox: Annotated[str, typer.Option(help="With --run: auto, bwrap, unshare or none.")
                       ] = "auto",
    keep: Annotated[bool, typer.Option(
        help="With --run: keep the experiment's folder (config, metrics file, logs).")] = False,
    lines: Annotated[int, typer.Option(help="With --run: log lines to show.")] = 15,
) -> None:
    """Check a task folder: task.toml, program, harness, ideas (each must apply), data; with
    --run, run its baseline once and exit 1 unless the harness wrote the metric."""
    from recursor.task import idea_problems, load_task, parse_override
    from recursor.task.data import resolve

    try:
        loaded = load_task(task, dict(parse_override(o) for o in override or []))
        problems = idea_problems(loaded)
        for d in loaded.spec.data:
            try:
                resolve(d)
            except RecursorError as err:
                problems.append(str(err))
    except RecursorError as err:
        _fail(err)
    if problems:
        err_console.print(f"[bold red]task {loaded.name} has {len(problems)} problem(s):[/]")
        from rich.markup import escape

        for p in problems:
            err_console.print(f"  - {escape(p)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    s = loaded.spec
    console.print(f"[green]ok[/] task {s.name}: {len(s.program.files)} program file(s), "
                  f"{len(loaded.ideas)} ideas that apply, metric {s.metric.name} "
                  f"({s.metric.direction}), {len(s.seeds.values)} seeds, {len(s.data)} data file(s)"
                  + (f", a space of {len(s.space)} settings" if s.space else ""))
    if run:
        _validate_run(loaded, seed, sandbox, keep, lines)


def _validate_run(task, seed: int | None, sandbox: str, keep: bool, lines: int) -> None:
    from rich.markup import escape

    from recursor.loop.check import run_baseline_once

    first = task.spec.seeds.values[0] if seed is None else seed
    console.print(f"running the baseline once (seed {first}): at most "
                  f"{task.spec.limits.timeout_seconds:g} s ...", highlight=False)
    try:
        done = run_baseline_once(task, seed=seed, sandbox=sandbox, keep=keep, lines=lines)
    except KeyboardInterrupt:
        err_console.print("[bold]interrupted[/]")
        raise typer.Exit(130) from None
    except RecursorError as err:
        _fail(err)
    for name, text in done.logs.items():
        console.print(f"[bold]-- {name} (last {lines} lines)[/]", highlight=False)
        console.print(escape(text) if text.strip() else "(empty)", highlight=False,
                      soft_wrap=True)
    curve = task.spec.metric.curve
    console.print(f"sandbox {done.sandbox} · {done.seconds:.1f} s · curve: {done.curve_points} "
                  f"point(s), {done.with_progress} with progress"
                  + (f", {done.with_curve} with {curve}" if curve else ""), highlight=False)
    if done.job_dir is not None:
        console.print(f"kept: {done.job_dir}", highlight=False)
    if curve and not done.with_curve:
        console.print(f"[yellow]note:[/] no curve point carries progress and {curve}: the value "
                      "function cannot stop this task's experiments early", highlight=False)
    if not done.ok:
        err_console.print(f"[bold red]the baseline failed:[/] {escape(done.reason or '')}",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"[green]ok[/] {done.metric} = {done.value:.6g} (seed {done.seed})",
                  highlight=False)


def run_command(settings: Sequence[Setting] = SETTINGS) -> Callable[..., None]:
    """`recursor run` with an option for each flag of each setting of `settings`."""

    def run(task: str, ideas: list[Path] | None = None, verbose: bool = False,
            **given: Any) -> None:
        """Run the research loop on a task until its budget is spent."""
        import recursor

        def start(observer):
            # converted here, inside _drive, so that a bad --set is reported as an error
            chosen = options.keywords(settings, given)
            return recursor.run(task, ideas=ideas or (), observer=observer, **chosen)

        _drive(start, verbose)

    keyword = inspect.Parameter.KEYWORD_ONLY
    run.__signature__ = inspect.Signature([
        inspect.Parameter("task", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=TaskName),
        *options.parameters(settings),
        # not settings: idea folders are read into the run's task when it is created, and
        # --verbose is how this command shows progress
        inspect.Parameter("ideas", keyword, default=None, annotation=Annotated[
            list[Path] | None, typer.Option(
                help="A folder of extra idea files to add to the task's library.",
                rich_help_panel="Task")]),
        inspect.Parameter("verbose", keyword, default=False, annotation=Annotated[
            bool, typer.Option("--verbose", "-v", help="Show every seed's result.")]),
    ])
    return run


run = app.command("run")(run_command())


@app.command("try")
def try_(
    task: TaskName,
    patch: Annotated[list[Path], typer.Option(
        help="A change to judge: a unified diff (as `git diff` writes it) or SEARCH/REPLACE "
             "blocks. Repeat to judge several, each against the baseline.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
    run_dir: Annotated[Path | None, typer.Option(
        help="Where the trial's run is kept (default runs/TASK-TIME).")] = None,
    workers: Annotated[int | None, typer.Option(help="Experiments in parallel.")] = None,
    override: Override = None,
    sandbox: Annotated[str, typer.Option(help="auto, bwrap, unshare or none.")] = "auto",
    heldout: Annotated[bool, typer.Option(help="Run the held-out evaluations.")] = True,
) -> None:
    """Judge one change by hand against the task's baseline, with the full judge and auditor."""
    import recursor
    from recursor.task import parse_override

    for p in patch:
        if not p.is_file():
            _fail(RecursorError(f"no patch file {p}"))
    try:
        overrides = dict(parse_override(o) for o in override or [])
        verdicts = recursor.try_patches(task, patch, run_dir=run_dir, workers=workers,
                                        overrides=overrides, sandbox=sandbox, heldout=heldout)
    except KeyboardInterrupt:
        err_console.print("[bold]interrupted[/]")
        raise typer.Exit(130) from None
    except RecursorError as err:
        _fail(err)
    if as_json:
        out = verdicts[0] if len(verdicts) == 1 else verdicts
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    from recursor.cli.views import verdict_view
    from recursor.report.render import sandbox_warning

    for v in verdicts:
        console.print(verdict_view(v))
    warning = verdicts and sandbox_warning({"kind": verdicts[0].get("sandbox"),
                                            "describe": "see `recursor report`"})
    if warning:
        err_console.print(f"[bold yellow]{warning}[/]")


@app.command()
def resume(
    run_dir: RunDir,
    # the budget options change a stored run (raise its budget, move it to a cluster), so they
    # say so in their own help rather than in the settings'
    experiments: Annotated[int | None, typer.Option(help="Raise the experiment budget.")] = None,
    minutes: Annotated[float | None, typer.Option(help="Set the time budget.")] = None,
    workers: Annotated[int | None, typer.Option(help="Experiments in parallel.")] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="Run the rest on the Ray cluster at this address (HOST:6379 or auto).")] = None,
    mlflow: MlflowUri = None,
    mlflow_experiment: Experiment = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Continue a run after Ctrl-C or a crash; nothing that finished runs again."""
    import recursor

    _drive(lambda observer: recursor.resume(run_dir, experiments=experiments, minutes=minutes,
                                            workers=workers, observer=observer,
                                            ray_address=ray_address, mlflow=mlflow,
                                            mlflow_experiment=mlflow_experiment), verbose)


@app.command()
def selfplay(
    folder: Annotated[Path, typer.Argument(help="The self-play folder (made, or gone on with).")],
    rounds: Annotated[int, typer.Option(help="Rounds of the family, in all.")] = 3,
    experiments: Annotated[int, typer.Option(help="Each defend run's experiment budget.")] = 8,
    attack_experiments: Annotated[int | None, typer.Option(
        help="Each attack run's experiment budget (default: --experiments).")] = None,
    heldout_seeds: Annotated[int, typer.Option(
        help="Seeds of each held-out measurement of human-written jailbreaks.")] = 2,
    workers: Annotated[int, typer.Option(help="Experiments in parallel.")] = 1,
    family: Annotated[str, typer.Option(
        help="guard (the guard duel) or chat (defences of a small chat model).")] = "guard",
    override: Override = None,
) -> None:
    """Rounds of a red-teaming family: attack the last defender, export the archive, train the
    defence against every archive so far, measure cross-play and held-out human jailbreaks.
    Run it again to go on after Ctrl-C or a crash; finished steps are not run again."""
    from recursor.selfplay import selfplay as play
    from recursor.selfplay.report import render
    from recursor.task import parse_override

    try:
        done = play(rounds, folder, experiments=experiments, attack_experiments=attack_experiments,
                    workers=workers, heldout_seeds=heldout_seeds, family=family,
                    overrides=dict(parse_override(o) for o in override or []),
                    say=lambda line: err_console.print(f"[bold]selfplay[/]: {line}"))
    except KeyboardInterrupt:
        err_console.print("[bold]interrupted[/]: run the same command again to go on.")
        raise typer.Exit(130) from None
    except RecursorError as err:
        _fail(err)
    console.print(render(done))


def _drive(call, verbose: bool) -> None:
    """Run `call(observer)` with live progress; Ctrl-C leaves a resumable run."""
    from recursor.cli.progress import RichObserver

    try:
        with RichObserver(console, verbose) as observer:
            result = call(observer)
    except KeyboardInterrupt:
        err_console.print("[bold]interrupted[/]: `recursor resume RUN` continues the run.")
        raise typer.Exit(130) from None
    except RecursorError as err:
        _fail(err)
    _print_report(result.report())


@app.command()
def status(run_dir: RunDir) -> None:
    """What a run is doing now (or where it stopped): budget, running experiments, best so far."""
    from recursor.cli.views import status_view

    try:
        console.print(status_view(run_dir))
    except RecursorError as err:
        _fail(err)


@app.command()
def report(
    run_dir: RunDir,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="A Markdown page.")] = False,
    html: Annotated[bool, typer.Option(
        "--html", help="One self-contained HTML page with the plots (to RUN/report.html unless "
                       "--output).")] = False,
    output: Annotated[Path | None, typer.Option("--output", "--out", "-o",
                                                help="Write to a file.")] = None,
) -> None:
    """The run's results: baseline, best, every node with its verdict."""
    import recursor
    from recursor.report.render import markdown_report

    if as_json + markdown + html > 1:
        _fail(RecursorError("choose one of --json, --markdown and --html"))
    if html:
        from recursor.report.html import write

        try:
            path = write(recursor.open_run(run_dir), output or run_dir / "report.html")
        except (RecursorError, OSError) as err:
            _fail(err)
        err_console.print(f"wrote {path}", highlight=False, soft_wrap=True)  # a path, whole
        return
    try:
        data = recursor.open_run(run_dir).report()
    except RecursorError as err:
        _fail(err)
    if as_json or markdown:
        text = json.dumps(data, indent=2) + "\n" if as_json else markdown_report(data)
        if output:
            output.write_text(text)
            err_console.print(f"wrote {output}", soft_wrap=True)
        else:
            sys.stdout.write(text)
        return
    if output:
        with output.open("w") as f:
            Console(file=f, width=160).print(_report_renderable(data))
        return
    _print_report(data)


@app.command()
def show(
    run_dir: RunDir,
    node: Annotated[int, typer.Argument(help="Node id (see `recursor report`).")],
    lines: Annotated[int, typer.Option(help="Log lines to show.")] = 20,
) -> None:
    """One experiment: idea, hypothesis, diff, per-seed metrics, verdict, log tail."""
    from recursor.cli.views import node_view

    try:
        console.print(node_view(run_dir, node, lines))
    except RecursorError as err:
        _fail(err)


def _report_renderable(data: dict):
    from recursor.report.render import text_report

    return text_report(data)


def _print_report(data: dict) -> None:
    console.print(_report_renderable(data))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
