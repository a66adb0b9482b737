"""The dashboard as a person sees it in Chromium: a finished run, then a run going live.

The dashboard is served on a free loopback port from real run databases; Playwright drives the
system's Chromium (`sh scripts/install-browser.sh`; RECURSOR_CHROMIUM names another binary),
never a browser Playwright downloads. The tests skip, saying why, only when Playwright or
Chromium cannot start.
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest

import recursor
from recursor.loop.trial import GivenPatch, GivenPatches

pytestmark = pytest.mark.slow
pytest.importorskip("uvicorn", reason="the dashboard's extra is not installed: pip install 'recursor[ui]'")
expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

from recursor.ui.serve import serving  # noqa: E402  (after the skip: needs the ui extra)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("RECURSOR_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium here: sh scripts/install-browser.sh installs Debian's")
    manager = sync_playwright()
    try:
        pw = manager.start()
    except Exception as err:
        pytest.skip(f"Playwright cannot start: {err}")
    try:
        chromium = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, timeout=30_000)
    except Exception as err:
        manager.__exit__(None, None, None)
        pytest.skip(f"Chromium ({path}) does not start here: {str(err).splitlines()[0]}")
    yield chromium
    chromium.close()
    manager.__exit__(None, None, None)


@pytest.fixture
def page(browser):
    """A fresh page; a dialog (an alert a page should never raise) is recorded and dismissed."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    context.close()


CRASH = ("train.py\n<<<<<<< SEARCH\nlearning_rate = 1e-3\n=======\nlearning_rate = 1e-3\n"
         "raise RuntimeError('deliberate crash for the dashboard test')\n>>>>>>> REPLACE\n")
# the title is HTML: the pages must show it as text, and never run it
TITLE = "Crash <img src=x onerror=alert(1)> on purpose"


def test_a_person_reads_a_finished_run(small_run, page):
    key = small_run.run_dir.name
    nodes = small_run.nodes()
    with serving(small_run.run_dir.parent) as base:
        page.goto(base + "/")
        row = page.locator(f'tr[data-run="{key}"]')
        expect(row).to_contain_text("tiny-lm")
        expect(row).to_contain_text("finished")
        row.get_by_role("link", name=key).click()

        expect(page.locator("h1")).to_contain_text("tiny-lm")
        tree = page.locator("ul.tree")
        expect(tree.locator("li[data-node]")).to_have_count(len(nodes))
        for n in nodes:
            item = tree.locator(f'li[data-node="{n.id}"]').first
            expect(item.locator(".status").first).to_have_text(n.status.value)
        expect(page.locator('[data-part="progress"] svg')).to_be_visible()
        expect(page.locator('[data-part="progress"]')).to_contain_text("best val_bpb over time")

        # a candidate that ran: its page has the idea, the diff, the seeds against its parent
        node = next(n for n in nodes if not n.is_baseline and n.values("val_bpb"))
        tree.locator(f'li[data-node="{node.id}"] > a').nth(1).click()
        expect(page.locator("h1")).to_contain_text(f"node {node.id}: {node.title}")
        if node.idea.hypothesis:
            expect(page.locator("table.idea")).to_contain_text(" ".join(node.idea.hypothesis.split())[:40])
        expect(page.locator("pre.diff .add").first).to_be_visible()
        seeds = page.locator("table.seeds tbody tr")
        expect(seeds).to_have_count(len(node.evaluations))
        parent = small_run.node(node.parent_id)
        first = node.evaluations[0]
        expect(seeds.first).to_contain_text(f"{parent.values(first.evaluation)[first.seed]:.4f}")
        expect(page.locator('[data-plot="curves"] svg')).to_be_visible()
        expect(page.locator('[data-plot="curves"]')).to_contain_text(f"parent, node {parent.id}")
        expect(page.locator('[data-part="verdict"]')).to_contain_text(node.verdict.stage)
        expect(page.locator("details.log summary").first).to_contain_text(
            f"program.log · seed {first.seed}")
    assert page.dialogs == []


class Gated(GivenPatches):
    """Hands over its patches only once the test says so: the page is open on a live run by then."""

    def __init__(self, patches):
        super().__init__(patches)
        self.asked, self.go = threading.Event(), threading.Event()

    def propose(self, ctx):
        self.asked.set()
        self.go.wait(timeout=120)
        return super().propose(ctx)


def test_a_live_run_updates_its_page_and_a_failed_node_says_why(page, tmp_path, small):
    root = tmp_path / "runs"
    root.mkdir()
    gate = Gated([GivenPatch(TITLE, CRASH)])
    done = {}

    def drive():
        try:
            done["run"] = recursor.run("tiny-lm", run_dir=root / "live", experiments=1, workers=2,
                                       overrides=small, heldout=False,
                                       proposer=gate)
        except BaseException as err:  # the test fails with it below, not the thread silently
            done["error"] = err

    thread = threading.Thread(target=drive, daemon=True)
    with serving(root, poll_seconds=0.3) as base:
        thread.start()
        try:
            assert gate.asked.wait(timeout=120), done.get("error")  # the baseline is decided
            page.goto(base + "/runs/live")
            expect(page.locator('[data-part="status"]')).to_have_text("running")
            expect(page.locator("[data-live]")).to_contain_text("live")
            expect(page.locator("ul.tree li[data-node]")).to_have_count(1)
            page.evaluate("window.__sameDocument = true")  # gone if the page reloads
        finally:
            gate.go.set()
        # the candidate crashes; the page shows it, and the run's end, without a reload
        node = page.locator('ul.tree li[data-node="2"]')
        expect(node).to_have_attribute("data-status", "failed", timeout=90_000)
        expect(node).to_contain_text(TITLE)
        expect(page.locator('[data-part="status"]')).to_have_text("finished", timeout=30_000)
        expect(page.locator('[data-part="progress"]')).to_contain_text("failed (1)")
        expect(page.locator('[data-part="nodes"]')).to_contain_text("deliberate crash")
        expect(page.locator("[data-live]")).to_contain_text("live updates stopped")
        assert page.evaluate("window.__sameDocument") is True
        live = page.evaluate("window.recursorLive")
        assert live["active"] is False and live["swaps"] > 0
        page.wait_for_timeout(1000)  # three poll periods: it asks no more
        assert page.evaluate("window.recursorLive.polls") == live["polls"]

        # the failed node's page: why it failed, and the log that shows it
        node.locator("a").nth(1).click()
        expect(page.locator("h1")).to_contain_text(TITLE)
        expect(page.locator('[data-part="status"]')).to_have_text("failed")
        expect(page.locator(".reason")).to_contain_text("deliberate crash for the dashboard test")
        expect(page.locator("ul.failures")).to_contain_text("seed 1")
        log = page.locator("details.log[open] pre").first
        expect(log).to_contain_text("RuntimeError: deliberate crash for the dashboard test")
        expect(page.locator("pre.diff")).to_contain_text("+raise RuntimeError")
    thread.join(timeout=60)
    assert "error" not in done, done.get("error")
    assert page.dialogs == []  # the title's onerror never ran
