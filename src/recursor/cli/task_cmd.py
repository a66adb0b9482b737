"""`recursor task ...`: make task folders, a thin layer over the scaffold and the importers.

recursor task init DIR --train "python train.py --seed {seed}" --metric NAME [--score CMD] ...
recursor task import-kernelbench PATH [--shrink] [--out DIR] [--force] [--timeout S]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

task_app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help="Make task folders."
)


def _consoles() -> tuple[Console, Console]:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    return console, Console(stderr=True)


def _shapes(shapes) -> str:
    return " | ".join(" ".join(f"{k}={v}" for k, v in s.items()) or "-" for s in shapes)


@task_app.command("import-kernelbench")
def import_kernelbench_cmd(
    path: Annotated[
        Path, typer.Argument(help="A KernelBench problem file, or a folder of them (every *.py below it).")
    ],
    shrink: Annotated[
        bool,
        typer.Option(
            help="Scale the size constants down so that one eager CPU call of the reference takes "
            "about 20 ms (10-50); the GPU shapes keep the problem's own sizes."
        ),
    ] = False,
    out: Annotated[Path, typer.Option(help="Where the task folders go.")] = Path("kernel-tasks"),
    force: Annotated[bool, typer.Option(help="Replace task folders that already exist.")] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds one problem's check (and shrink search) may take.")
    ] = 300.0,
) -> None:
    """Import KernelBench problems as kernel task folders OUT/kb-<name>/; exit 1 if any failed."""
    from recursor.errors import RecursorError
    from recursor.task.kernel.importer import ImportedTask, import_kernelbench

    console, err_console = _consoles()

    def show(file: Path, outcome: ImportedTask | str) -> None:
        if isinstance(outcome, str):
            err_console.print(
                f"[bold red]failed[/] {escape(str(file))}: {escape(outcome)}", highlight=False, soft_wrap=True
            )
            return
        t = outcome
        console.print(
            f"[green]ok[/] {escape(t.name)}  cpu {escape(_shapes(t.cpu_shapes))}  "
            f"gpu {escape(_shapes(t.gpu_shapes))}  {t.cpu_ms:.1f} ms",
            highlight=False,
            soft_wrap=True,
        )
        for note in t.notes:
            console.print(f"   note: {escape(note)}", highlight=False, soft_wrap=True)

    try:
        result = import_kernelbench(path, out, shrink=shrink, force=force, timeout=timeout, on_result=show)
    except KeyboardInterrupt:
        err_console.print("[bold]interrupted[/]")
        raise typer.Exit(130) from None
    except RecursorError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(
        f"{len(result.written)} task folder(s) written to {escape(str(out))}, "
        f"{len(result.failed)} problem(s) failed",
        highlight=False,
    )
    if result.failed:
        raise typer.Exit(1)


@task_app.command("init")
def init_cmd(
    folder: Annotated[Path, typer.Argument(help="The task folder to write (new, or empty).")],
    train: Annotated[str, typer.Option(
        help="The training command, run in a writable copy of the program's folder: "
             "{seed} (required), {python} (recursor's interpreter; a leading `python` is it "
             "too), {threads}, {progress_fd} (a pipe for JSON curve points).")],
    metric: Annotated[str, typer.Option(help="The metric's name, e.g. val_loss.")],
    minimize: Annotated[bool, typer.Option(
        "--minimize/--maximize", help="Whether lower or higher is better.")] = True,
    score: Annotated[str | None, typer.Option(
        help="The score command, run after training in a fresh sandbox in the same folder: "
             "it writes JSON to {output} (a number, or {METRIC: number}); {scoring} is the "
             "folder of the --scoring files. Without it the task has no metric yet.")] = None,
    curve_regex: Annotated[str | None, typer.Option(
        help="Curve points from training's output: each line this regex finds, its named "
             r"groups as numbers, e.g. 'iter (?P<step>\d+): loss (?P<loss>[0-9.]+)'.")] = None,
    total_steps: Annotated[int | None, typer.Option(
        help="The step training ends at: progress = step / this (lets early stopping "
             "work).")] = None,
    metric_regex: Annotated[str | None, typer.Option(
        help="Take the metric from training's output instead of a score step. This TRUSTS "
             "THE PROGRAM: what it prints is its score.")] = None,
    program: Annotated[list[Path] | None, typer.Option(
        help="A file or folder of the program (repeat); copied into the task at its path "
             "relative to --from (files that are not text, or over 1 MiB, into assets/, put "
             "back at that path for every run). Default: the script --train runs.")] = None,
    editable: Annotated[list[Path] | None, typer.Option(
        help="A program file ideas may change (repeat). Default: the script --train "
             "runs.")] = None,
    scoring: Annotated[list[Path] | None, typer.Option(
        help="A file or folder only the score step sees (repeat): the scoring script, "
             "held-out data; copied into scoring/.")] = None,
    source: Annotated[Path, typer.Option(
        "--from", help="The program's folder: program files keep their paths relative to "
                       "it.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="The task's name (default: the folder's).")
                    ] = None,
    train_seconds: Annotated[float, typer.Option(help="Wall-clock cap of training.")] = 600.0,
    score_seconds: Annotated[float, typer.Option(help="Wall-clock cap of scoring.")] = 120.0,
    memory_mb: Annotated[int, typer.Option(help="Memory cap of each process.")] = 4096,
    threads: Annotated[int, typer.Option(help="CPU threads one experiment uses.")] = 1,
    seeds: Annotated[int, typer.Option(help="Seeds the baseline runs (at least 2).")] = 3,
) -> None:
    """Write a task folder around your program: task.toml, a harness, an example idea, a README.

    Paths are as you type them in your shell; program files keep their paths relative to
    --from, so a program that reads files relative to its folder works as it does there."""
    from recursor.errors import RecursorError
    from recursor.task.scaffold import init_task

    console, err_console = _consoles()
    try:
        made = init_task(folder, train=train, metric=metric, minimize=minimize, score=score,
                         curve_regex=curve_regex, total_steps=total_steps,
                         metric_regex=metric_regex, program=program or (),
                         editable=[str(e) for e in editable or ()], scoring=scoring or (),
                         source=source, name=name, train_seconds=train_seconds,
                         score_seconds=score_seconds, memory_mb=memory_mb, threads=threads,
                         seeds=seeds)
    except RecursorError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"[green]wrote[/] {escape(str(folder))}: task {escape(made.name)}, "
                  f"{len(made.program)} program file(s) ({escape(', '.join(made.editable))} "
                  f"editable), {len(made.assets)} asset(s), {len(made.scoring)} scoring file(s)"
                  + (f", example idea {escape(made.idea)}" if made.idea else ""),
                  highlight=False, soft_wrap=True)
    for note in made.notes:
        console.print(f"   note: {escape(note)}", highlight=False, soft_wrap=True)
    console.print(f"next: recursor validate {escape(str(folder))} --run", highlight=False,
                  soft_wrap=True)
