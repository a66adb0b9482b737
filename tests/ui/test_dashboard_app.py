"""The dashboard over HTTP: which runs it finds, what its pages and JSON say, what it refuses."""

from __future__ import annotations

import http.client
import sys
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from recursor.cli.app import app
from recursor.ui.runs import find_runs

NO_EXTRA = "the dashboard's extra is not installed: pip install 'recursor[ui]'"


def fake_run(folder):
    folder.mkdir(parents=True)
    (folder / "run.db").write_bytes(b"")
    return folder


def test_runs_are_found_under_the_root_and_nowhere_else(tmp_path):
    root = tmp_path / "runs"
    fake_run(root / "demo")
    fake_run(root / "bench" / "20261202-kernel-gelu")
    fake_run(root / ".trash" / "old")  # hidden
    fake_run(tmp_path / "elsewhere")
    (root / "link").symlink_to(tmp_path / "elsewhere")  # a run outside the root, by a symlink
    assert sorted(find_runs(root)) == ["bench/20261202-kernel-gelu", "demo"]
    assert list(find_runs(root / "demo")) == ["demo"]  # one run folder: that run


def test_without_its_extra_the_ui_command_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` now fails
    result = CliRunner().invoke(app, ["ui", str(tmp_path)])
    assert result.exit_code == 2
    assert "pip install 'recursor[ui]'" in result.output and "uvicorn" in result.output


def raw_get(base: str, path: str) -> tuple[int, str]:
    """GET a path exactly as written: no client-side normalisation of '..' or '%2F'."""
    where = urlsplit(base)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def test_no_url_reaches_a_file_outside_the_runs_folder(tmp_path):
    pytest.importorskip("uvicorn", reason=NO_EXTRA)
    from recursor.ui.serve import serving

    root = tmp_path / "runs"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    fake_run(tmp_path / "elsewhere")
    (root / "link").symlink_to(tmp_path / "elsewhere")
    attempts = ["/runs/../secret.txt", "/runs/..%2Fsecret.txt", "/runs/%2e%2e/%2e%2e/etc/passwd",
                "/runs/..%2F..%2Fetc%2Fpasswd/report.html", "/api/runs/..%2F..%2F/state",
                "/runs/link", "/api/runs/link/report", "/static/../../secret.txt",
                "/static/..%2F..%2F..%2Fsecret.txt", "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                "/runs/" + str(tmp_path / "elsewhere"), "//etc/passwd"]
    with serving(root) as base:
        for path in attempts:
            status, body = raw_get(base, path)
            assert status in (400, 404), (path, status)
            assert "TOPSECRET" not in body and "root:x:" not in body, path


@pytest.mark.slow
def test_pages_and_state_of_a_finished_run(small_run):
    pytest.importorskip("fastapi", reason=NO_EXTRA)
    from fastapi.testclient import TestClient

    from recursor.ui import create_app

    client = TestClient(create_app(small_run.run_dir.parent, poll_seconds=1))
    key = small_run.run_dir.name
    report = small_run.report()
    runs = client.get("/")
    assert runs.status_code == 200 and f'href="/runs/{key}"' in runs.text and "tiny-lm" in runs.text
    page = client.get(f"/runs/{key}")
    assert page.status_code == 200
    for n in report["nodes"]:
        assert f'data-node="{n["id"]}" data-status="{n["status"]}"' in page.text
    assert "data-poll" not in page.text  # a finished run's page does not poll
    state = client.get(f"/api/runs/{key}/state").json()
    assert state["live"] is False and state["status"] == "finished"
    assert state["counts"] == report["counts"]
    assert {"status", "facts", "progress", "tree", "events", "nodes"} <= set(state["parts"])
    assert client.get(f"/api/runs/{key}/report").json()["counts"] == report["counts"]
    missing = client.get(f"/runs/{key}/nodes/999")
    assert missing.status_code == 404 and "has no node 999" in missing.text
    assert client.get("/runs/no-such-run").status_code == 404
    assert "<svg" in client.get(f"/runs/{key}/report.html").text
