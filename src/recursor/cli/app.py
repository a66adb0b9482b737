"""`recursor`: the command line, a thin layer over `recursor.api`.

    recursor tasks
    recursor validate TASK
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
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from recursor.cli.discoveries_cmd import discoveries_app, export_cmd, reproduce_cmd
from recursor.cli.mlflow_cmd import Experiment, mlflow_cmd
from recursor.cli.task_cmd import task_app
from recursor.cli.ui_cmd import ui_cmd
from recursor.errors import RecursorError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="recursor: automated AI research whose verdicts survive noise.",
    pretty_exceptions_enable=False,
)
app.add_typer(task_app, name="task", help="Make task folders: import-kernelbench.")
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
MlflowUri = Annotated[str | None, typer.Option(
    "--mlflow", help="Log the run to MLflow while it goes: a tracking URI such as "
                     "http://mlflow:5000 or sqlite:///mlflow.db ('' for $MLFLOW_TRACKING_URI); "
                     "pip install 'recursor\\[mlflow]'.")]


def _fail(err: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
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
    task: Annotated[str, typer.Argument(help="A built-in task's name or a task folder.")],
    override: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a task.toml setting, e.g. --set budget.train_tokens=40000.")] = None,
) -> None:
    """Check a task folder: task.toml, program, harness, ideas (each must apply), data."""
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
        for p in problems:
            err_console.print(f"  - {p}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    s = loaded.spec
    console.print(f"[green]ok[/] task {s.name}: {len(s.program.files)} program file(s), "
                  f"{len(loaded.ideas)} ideas that apply, metric {s.metric.name} "
                  f"({s.metric.direction}), {len(s.seeds.values)} seeds, {len(s.data)} data file(s)")


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="A built-in task's name or a task folder.")],
    experiments: Annotated[int | None, typer.Option(
        help="Candidates to try (the baseline is not counted).")] = None,
    minutes: Annotated[float | None, typer.Option(
        help="Wall-clock budget of the whole run, in minutes.")] = None,
    run_dir: Annotated[Path | None, typer.Option(
        help="Where the run is kept (default runs/TASK-TIME).")] = None,
    policy: Annotated[str, typer.Option(
        help="Search policy: greedy, best-first, islands or map-elites.")] = "best-first",
    workers: Annotated[int | None, typer.Option(
        help="Experiments in parallel (default: what the machine can hold).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the proposer's and policy's choices.")] = 0,
    alpha: Annotated[float, typer.Option(help="Level of each confirmation test.")] = 0.02,
    override: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a task.toml setting, e.g. --set budget.train_tokens=40000.")] = None,
    ideas: Annotated[list[Path] | None, typer.Option(
        help="A folder of extra idea files to add to the task's library.")] = None,
    sandbox: Annotated[str, typer.Option(
        help="Confinement of experiments: auto, bwrap, unshare or none.")] = "auto",
    executor: Annotated[str, typer.Option(
        help="Where experiments run: local (a process pool here) or ray (Ray tasks; "
             "pip install 'recursor\\[ray]').")] = "local",
    ray_address: Annotated[str | None, typer.Option(
        help="With --executor ray: the cluster to join (HOST:6379 or auto; default: start a "
             "local Ray instance). The run folder must be on a file system all nodes "
             "share.")] = None,
    heldout: Annotated[bool, typer.Option(
        help="Run the task's held-out evaluations on accepted nodes.")] = True,
    early_stop: Annotated[bool, typer.Option(
        help="Let the value function stop candidates whose partial curve says they will lose "
             "to their parent.")] = True,
    stop_risk: Annotated[float, typer.Option(
        help="Stop a candidate below this forecast chance of beating its parent.")] = 0.02,
    stop_test_risk: Annotated[float, typer.Option(
        help="Stop a candidate below this forecast chance of being accepted: of passing its "
             "screen and then its paired test (looked at from its screen on, once the run's "
             "noise has 6 degrees of freedom).")] = 0.15,
    stop_audit: Annotated[float, typer.Option(
        help="Share of would-be stops run to the end anyway, to measure false stops.")] = 0.2,
    proposer: Annotated[str, typer.Option(
        help="Who proposes: library, llm, mixed (llm and library) or agent.")] = "library",
    model: Annotated[list[str] | None, typer.Option(
        help="A model for the LLM researchers, e.g. openai:gpt-4o-mini or "
             "anthropic:claude-sonnet-4-5; repeat for several.")] = None,
    base_url: Annotated[str | None, typer.Option(
        help="The endpoint of the --model(s): an OpenAI-compatible server (vLLM, Ollama, "
             "llama.cpp, OpenRouter) or an Anthropic-compatible one.")] = None,
    context_tokens: Annotated[int | None, typer.Option(
        help="The context window of the --model(s), in tokens: a brief that would not fit "
             "with room for the answer is sent in its compact form.")] = None,
    models_file: Annotated[Path | None, typer.Option(
        help="A TOML file of [[models]] (model, provider, base_url, api_key_env, price_in, "
             "price_out, context_tokens, ...).")] = None,
    persona: Annotated[list[str] | None, typer.Option(
        help="Researcher personas (default: optimizer, architecture, systems, contrarian).")] = None,
    max_cost: Annotated[float | None, typer.Option(
        help="Stop proposing once model calls have cost this many dollars.")] = None,
    library_share: Annotated[float, typer.Option(
        help="With --proposer mixed: the library's share of the turns.")] = 0.25,
    propose_ahead: Annotated[int | None, typer.Option(
        help="Candidates to propose ahead while every worker is busy, so that a free worker "
             "starts one at once instead of waiting for the proposer (at most N wait; one "
             "proposal is out at a time; never past the budget). Default: 0 for the library "
             "(instant; its runs stay deterministic), 1 for llm, mixed and agent.")] = None,
    agent_command: Annotated[str | None, typer.Option(
        help="With --proposer agent: the agent's command line, e.g. "
             "\"claude -p {prompt} --permission-mode acceptEdits\".")] = None,
    agent_timeout: Annotated[float, typer.Option(
        help="With --proposer agent: seconds one agent call may take before it is killed.")] = 900,
    embeddings_model: Annotated[str | None, typer.Option(
        help="An embedding model for the novelty filter (OpenAI-compatible /v1/embeddings).")] = None,
    embeddings_url: Annotated[str | None, typer.Option(
        help="The endpoint of --embeddings-model (default: OpenAI's).")] = None,
    discoveries: Annotated[bool, typer.Option(
        help="Use the discovery library: try this task's past discoveries first, show other "
             "tasks' as suggestions, keep every accepted node there.")] = True,
    discoveries_dir: Annotated[Path | None, typer.Option(
        help="The discovery library's folder (default: $RECURSOR_LIBRARY, else "
             "~/.local/share/recursor/discoveries).")] = None,
    mlflow: MlflowUri = None,
    mlflow_experiment: Experiment = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every seed's result.")] = False,
) -> None:
    """Run the research loop on a task until its budget is spent."""
    import shlex

    import recursor
    from recursor.task import parse_override

    def start(observer):
        overrides = dict(parse_override(o) for o in override or [])
        return recursor.run(task, run_dir=run_dir, experiments=experiments, minutes=minutes,
                            policy=policy, workers=workers, seed=seed, alpha=alpha,
                            overrides=overrides, ideas=ideas or (), observer=observer,
                            sandbox=sandbox, heldout=heldout, proposer=proposer,
                            models=model or (), base_url=base_url, models_file=models_file,
                            context_tokens=context_tokens,
                            personas=persona or (), max_cost=max_cost,
                            library_share=library_share, propose_ahead=propose_ahead,
                            embeddings=({"model": embeddings_model, "base_url": embeddings_url}
                                        if embeddings_model else None),
                            agent_command=shlex.split(agent_command) if agent_command else (),
                            agent_timeout=agent_timeout, executor=executor,
                            ray_address=ray_address, early_stop=early_stop,
                            stop_risk=stop_risk, stop_test_risk=stop_test_risk,
                            stop_audit=stop_audit,
                            discoveries=discoveries, discoveries_dir=discoveries_dir,
                            mlflow=mlflow, mlflow_experiment=mlflow_experiment)

    _drive(start, verbose)


@app.command("try")
def try_(
    task: Annotated[str, typer.Argument(help="A built-in task's name or a task folder.")],
    patch: Annotated[list[Path], typer.Option(
        help="A change to judge: a unified diff (as `git diff` writes it) or SEARCH/REPLACE "
             "blocks. Repeat to judge several, each against the baseline.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
    run_dir: Annotated[Path | None, typer.Option(
        help="Where the trial's run is kept (default runs/TASK-TIME).")] = None,
    workers: Annotated[int | None, typer.Option(help="Experiments in parallel.")] = None,
    override: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a task.toml setting, e.g. --set budget.train_tokens=40000.")] = None,
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
        err_console.print(f"wrote {path}", highlight=False)
        return
    try:
        data = recursor.open_run(run_dir).report()
    except RecursorError as err:
        _fail(err)
    if as_json or markdown:
        text = json.dumps(data, indent=2) + "\n" if as_json else markdown_report(data)
        if output:
            output.write_text(text)
            err_console.print(f"wrote {output}")
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
