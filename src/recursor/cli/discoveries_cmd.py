"""The discovery library on the command line, a thin layer over `recursor.discoveries`.

    recursor discoveries [--task NAME] [--dir PATH] [--json]   list them
    recursor discoveries show ID                                one, with its evidence
    recursor discoveries add RUN                                keep a run's accepted nodes
    recursor reproduce ID [--run-dir DIR] [--seed-base N]       run one again on fresh seeds
    recursor export RUN [--out DIR]                             invention reports of a run
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recursor.errors import RecursorError

discoveries_app = typer.Typer(
    add_completion=False, pretty_exceptions_enable=False, invoke_without_command=True,
    help="The discovery library: accepted steps kept across runs (list, show, add, remove).")

LibDir = Annotated[Path | None, typer.Option(
    "--dir", help="The library's folder (default: $RECURSOR_LIBRARY, else "
                  "~/.local/share/recursor/discoveries).")]


def _consoles() -> tuple[Console, Console]:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    return console, Console(stderr=True)


def _fail(err: Exception) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
    raise typer.Exit(2)


def _evidence(v: dict) -> str:
    """effect, interval and p of a verdict, to the digits that mean something."""
    def num(x) -> str:
        return "–" if x is None else f"{x:.4g}"

    ci = v.get("ci95") or [None, None]
    return f"effect {num(v.get('effect'))}, 95% CI [{num(ci[0])}, {num(ci[1])}], p={num(v.get('p_value'))}"


def _effect(d) -> str:
    v = d.evidence.get("verdict", {})
    return "–" if v.get("effect") is None else f"{v['effect']:+.4g} (p={v.get('p_value', 0):.2g})"


@discoveries_app.callback()
def list_cmd(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Option(help="Only this task's discoveries.")] = None,
    directory: LibDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
) -> None:
    """List the discoveries of the library (oldest first)."""
    if ctx.invoked_subcommand is not None:
        return
    from recursor.discoveries import DiscoveryLibrary

    lib = DiscoveryLibrary(directory)
    found = [d for d in lib.all() if task is None or d.task == task]
    if as_json:
        sys.stdout.write(json.dumps([d.to_json() for d in found], indent=2) + "\n")
        return
    console, _ = _consoles()
    table = Table(title=f"{len(found)} discoveries in {lib.root}", header_style="bold")
    for col in ("id", "task", "idea", "effect on its parent", "depth", "run", "node"):
        table.add_column(col)
    for d in found:
        table.add_row(d.short, d.task, escape(d.title), _effect(d), str(d.depth),
                      escape(str(d.origin.get("run", "?"))), str(d.origin.get("node", "?")))
    console.print(table)


@discoveries_app.command("show")
def show_cmd(
    ref: Annotated[str, typer.Argument(help="A discovery's id, or the start of it.")],
    directory: LibDir = None,
) -> None:
    """One discovery: its idea, evidence and patch."""
    from recursor.discoveries import DiscoveryLibrary

    try:
        lib = DiscoveryLibrary(directory)
        d = lib.get(ref)
    except RecursorError as err:
        _fail(err)
    console, _ = _consoles()
    console.print(f"[bold]{escape(d.title)}[/] · {d.id} · task {d.task} · depth {d.depth}")
    for label, text in (("hypothesis", d.hypothesis), ("rationale", d.rationale),
                        ("source", d.source)):
        if text:
            console.print(f"[bold]{label}:[/] {escape(text.strip())}")
    console.print(f"[bold]evidence:[/] {escape(d.evidence.get('reason') or '')}")
    for seed, pair in d.evidence.get("seeds", {}).items():
        console.print(f"  seed {seed}: {pair['node']:.4f} vs parent {pair['parent']:.4f}")
    console.print(f"[bold]files:[/] {lib.folder(d)}")
    console.print(escape(d.patch), highlight=False)


@discoveries_app.command("add")
def add_cmd(run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
            directory: LibDir = None) -> None:
    """Keep every accepted node of a run in the library (for runs made without it)."""
    from recursor.discoveries import DiscoveryLibrary
    from recursor.discoveries.harvest import harvest_run

    try:
        lib = DiscoveryLibrary(directory)
        added = harvest_run(run_dir, lib)
    except RecursorError as err:
        _fail(err)
    console, _ = _consoles()
    console.print(f"{len(added)} new discoveries in {lib.root}"
                  + "".join(f"\n  {d.short} {escape(d.title)}" for d in added))


@discoveries_app.command("remove")
def remove_cmd(ref: Annotated[str, typer.Argument(help="A discovery's id, or the start of it.")],
               directory: LibDir = None) -> None:
    """Delete a discovery from the library."""
    from recursor.discoveries import DiscoveryLibrary

    try:
        d = DiscoveryLibrary(directory).remove(ref)
    except RecursorError as err:
        _fail(err)
    _consoles()[0].print(f"removed {d.short} {escape(d.title)}")


def reproduce_cmd(
    ref: Annotated[str, typer.Argument(help="A discovery's id, or the start of it.")],
    directory: LibDir = None,
    run_dir: Annotated[Path | None, typer.Option(
        help="Where the trial's run is kept (default runs/reproduce-ID-TIME).")] = None,
    seed_base: Annotated[int, typer.Option(
        help="Fresh seeds start here (the task's seeds become BASE+1...).")] = 2_000_000,
    workers: Annotated[int | None, typer.Option(help="Experiments in parallel.")] = None,
    sandbox: Annotated[str, typer.Option(help="auto, bwrap, unshare or none.")] = "auto",
    heldout: Annotated[bool, typer.Option(help="Run the held-out evaluations.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
) -> None:
    """Run a discovery again from its record, on fresh seeds on this machine: does it hold?"""
    import recursor

    try:
        out = recursor.reproduce(ref, library=directory, run_dir=run_dir, seed_base=seed_base,
                                 workers=workers, sandbox=sandbox, heldout=heldout)
    except KeyboardInterrupt:
        Console(stderr=True).print("[bold]interrupted[/]")
        raise typer.Exit(130) from None
    except RecursorError as err:
        _fail(err)
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        rec, now = out["recorded"], out["now"]
        word = "[green]holds[/]" if out["holds"] else "[red]does not hold[/]"
        console, _ = _consoles()
        console.print(f"{escape(out['title'])} ({out['discovery'][:10]}): {word} on fresh seeds "
                      f"{now['seeds']}")
        console.print(f"  recorded: {_evidence(rec)}")
        console.print(f"  now: {now['status']}, {_evidence(now)}; "
                      f"{escape('; '.join(now['reasons']))}")
        console.print(f"  run: {out['run_dir']}")
    if not out["holds"]:
        raise typer.Exit(1)


def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
    out: Annotated[Path | None, typer.Option(help="Where to write (default RUN/export).")] = None,
) -> None:
    """Write an invention report (Markdown, plots, patches) for each accepted step of a run."""
    import recursor

    try:
        folders = recursor.export(run_dir, out)
    except RecursorError as err:
        _fail(err)
    console, _ = _consoles()
    where = out or Path(run_dir) / "export"
    console.print(f"{len(folders)} accepted step(s) written to {where}"
                  + "".join(f"\n  {f.name}" for f in folders))
