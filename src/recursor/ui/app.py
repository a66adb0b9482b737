"""The dashboard's web app (FastAPI): runs, a run, a node; JSON state for live updates.

    from recursor.ui import create_app
    app = create_app(Path("runs"))          # a folder of runs, or one run folder
    # uvicorn.run(app, host="127.0.0.1", port=8765)  -- what `recursor ui` does

Pages:  /                          the runs
        /runs/{run}                a run: progress plot, lineage tree, nodes, recent events
        /runs/{run}/nodes/{id}     a node: idea, verdict, per-seed metrics, plots, diff, logs
        /runs/{run}/report.html    the static HTML report (as `recursor report --html`)
JSON:   /api/runs, /api/runs/{run}/report, /api/runs/{run}/state, /api/runs/{run}/nodes/{id}/state

It only reads: run databases are opened read-only, one connection per request (a request runs
in a worker thread, and an SQLite connection belongs to the thread that made it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

import recursor
from recursor.errors import RecursorError
from recursor.report import fragments
from recursor.report.html import page as report_page
from recursor.report.html import stylesheet
from recursor.ui.parts import PlotCache, node_linker, node_parts, run_href, run_parts, versioned
from recursor.ui.runs import find_runs, opened, run_row


def create_app(root: Path | str, poll_seconds: float = 3.0) -> FastAPI:
    """The dashboard of the runs under `root` (a run folder, or a folder of run folders).
    Pages of a live run ask for fresh state every `poll_seconds`."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise RecursorError(f"{root} is not a folder: give a run folder or a folder of runs")
    env = Environment(loader=PackageLoader("recursor.ui", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.globals.update(run_href=run_href, version=recursor.__version__,
                       poll_ms=int(poll_seconds * 1000))
    cache = PlotCache()
    app = FastAPI(title="recursor", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(packages=[("recursor.ui", "static")]), name="static")

    def render(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(root=str(root), **ctx),
                            status_code=status)

    def run_folder(key: str) -> Path:
        folder = find_runs(root).get(key)
        if folder is None:
            raise HTTPException(404, f"no run {key!r} under {root}")
        return folder

    @app.exception_handler(HTTPException)
    async def _not_found(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return render("error.html", exc.status_code, message=exc.detail)

    @app.exception_handler(RecursorError)
    async def _run_error(request: Request, exc: RecursorError) -> Response:
        # a node that does not exist, a run that cannot be read: said, not a stack trace
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc)}, status_code=404)
        return render("error.html", 404, message=str(exc))

    @app.get("/style.css")
    def style() -> Response:
        return Response(stylesheet(), media_type="text/css")

    def runs_state() -> dict[str, Any]:
        rows = sorted((run_row(k, p) for k, p in find_runs(root).items()),
                      key=lambda r: -r["modified"])
        html = env.get_template("parts/runs.html").render(rows=rows)
        return {"live": any(r.get("status") == "running" for r in rows), "rows": rows,
                "parts": {"runs": html}}

    @app.get("/", response_class=HTMLResponse)
    def runs_page() -> HTMLResponse:
        state = runs_state()
        return render("runs.html", live=state["live"], parts=_markup(state["parts"]),
                      versions=_versions(state["parts"]), count=len(state["rows"]))

    @app.get("/api/runs")
    def runs_api() -> dict[str, Any]:
        state = runs_state()
        return {"live": state["live"], "runs": state["rows"], "parts": versioned(state["parts"])}

    @app.get("/api/runs/{key:path}/nodes/{node_id:int}/state")
    def node_state(key: str, node_id: int) -> dict[str, Any]:
        with opened(run_folder(key)) as run:
            state = node_parts(run, key, node_id, env, cache)
        return {"live": state["live"], "status": state["status"],
                "parts": versioned(state["parts"])}

    @app.get("/api/runs/{key:path}/state")
    def run_state(key: str) -> dict[str, Any]:
        with opened(run_folder(key)) as run:
            state = run_parts(run, key, env, cache)
        return {"live": state["live"], "status": state["status"],
                "counts": state["report"]["counts"], "parts": versioned(state["parts"])}

    @app.get("/api/runs/{key:path}/report")
    def run_report(key: str) -> dict[str, Any]:
        with opened(run_folder(key)) as run:
            return run.report()

    @app.get("/runs/{key:path}/nodes/{node_id:int}", response_class=HTMLResponse)
    def node_page(key: str, node_id: int) -> HTMLResponse:
        with opened(run_folder(key)) as run:
            state = node_parts(run, key, node_id, env, cache)
            task = run.report()["task"]
        return render("node.html", key=key, task=task, d=state["detail"], live=state["live"],
                      parts=_markup(state["parts"]), versions=_versions(state["parts"]),
                      link=node_linker(key), f=fragments, Markup=Markup)

    @app.get("/runs/{key:path}/report.html", response_class=HTMLResponse)
    def html_report(key: str) -> HTMLResponse:
        with opened(run_folder(key)) as run:
            return HTMLResponse(report_page(run))

    @app.get("/runs/{key:path}", response_class=HTMLResponse)
    def run_page(key: str) -> HTMLResponse:
        with opened(run_folder(key)) as run:
            state = run_parts(run, key, env, cache)
            config = run.config
        return render("run.html", key=key, report=state["report"], config=config,
                      live=state["live"], parts=_markup(state["parts"]),
                      versions=_versions(state["parts"]))

    return app


def _markup(parts: dict[str, str]) -> dict[str, Markup]:
    """Parts are HTML their makers escaped (recursor.report.fragments, autoescaped templates)."""
    return {k: Markup(v) for k, v in parts.items()}


def _versions(parts: dict[str, str]) -> dict[str, str]:
    return {k: v["version"] for k, v in versioned(parts).items()}
