"""`recursor task ...`: make task folders, a thin layer over the importers.

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
