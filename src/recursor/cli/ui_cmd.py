"""`recursor ui`: the local web dashboard (needs the `ui` extra, imported only here)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True)

MISSING = ("the dashboard needs FastAPI, uvicorn and Jinja2: pip install 'recursor[ui]' "
           "({name} is not installed)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ui_cmd(
    path: Annotated[Path, typer.Argument(
        help="A run folder, or a folder of runs (every sub-folder with a run.db).")] = Path("runs"),
    host: Annotated[str, typer.Option(
        help="Address to listen on. The dashboard has no login: keep it on loopback.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    poll: Annotated[float, typer.Option(
        help="Seconds between the refreshes of a live run's page.")] = 3.0,
) -> None:
    """A local web dashboard: runs, lineage trees, node pages with diff, logs and curves;
    a running run's pages update by themselves."""
    try:
        import uvicorn

        from recursor.ui.app import create_app
    except ImportError as err:
        err_console.print(f"[bold red]error:[/] {escape(MISSING.format(name=err.name or err))}",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if not path.is_dir():
        err_console.print(f"[bold red]error:[/] {escape(str(path))} is not a folder: give a run "
                          "folder or a folder of runs (e.g. runs/)", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    if not _loopback(host):
        err_console.print(f"warning: listening on {host}: anyone who can reach it can read these "
                          "runs (ideas, diffs, logs); there is no login", highlight=False, markup=False)
    shown = f"[{host}]" if ":" in host else host
    err_console.print(f"recursor ui: {path.resolve()} at http://{shown}:{port}/ (Ctrl-C stops it)",
                      highlight=False, soft_wrap=True, markup=False)
    uvicorn.run(create_app(path, poll_seconds=poll), host=host, port=port, log_level="warning")
