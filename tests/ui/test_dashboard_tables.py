"""The dashboard's node table, tree and node pages say what the report says: each node's effect
against its parent and why it ended, for the run of tests/report/made_run.py (no experiment
runs, so these are quick), over HTTP and, where Chromium starts, as a person sees them."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the dashboard's extra is not installed: pip install 'recursor[ui]'")

from fastapi.testclient import TestClient  # noqa: E402  (after the skip: needs the ui extra)

from recursor.ui import create_app  # noqa: E402


def _made_run():
    """tests/report's builder of the run (tests have no package to import it from)."""
    path = Path(__file__).parents[1] / "report" / "made_run.py"
    spec = importlib.util.spec_from_file_location("made_run", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


made_run = _made_run()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(client, run key, run folder) of the dashboard over a folder holding the run."""
    root = tmp_path_factory.mktemp("dash")
    made_run.make_run(root / "mixed")
    return TestClient(create_app(root)), "mixed", root


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_tree_shows_effects_against_parents_and_why(served):
    client, key, _ = served
    tree = client.get(f"/api/runs/{key}/state").json()["parts"]["tree"]["html"]
    item = {i: text(tree.split(f'data-node="{i}"')[1].split("<ul>")[0].split("</li>")[0])
            for i in made_run.EXPECTED}
    assert "+5.00% vs #1 (2 pairs) +5.00% vs baseline" in item[2]
    # the rejected node whose screening seed beat the best: no gain over the baseline
    assert item[3].endswith("Lucky screen -0.30% vs #2 (2 pairs) not better")
    assert item[4].endswith("-1.73% vs #2 (screen only, 1 seed) not better")
    assert item[6].endswith("auditor: fresh-data") and item[8].endswith("failed: crashed")
    assert sum("vs baseline" in t for t in item.values()) == 1


def test_a_null_results_page_says_not_better_and_that_its_finding_decided_nothing(served):
    client, key, _ = served
    page = client.get(f"/runs/{key}/nodes/3")
    assert page.status_code == 200
    decision = text(page.text.split('class="reason')[1].split("</div>")[0])
    assert decision.startswith('s-rejected"> not better · -0.30% vs #2 (2 pairs)')
    assert "did not pass (p=0.61" in decision
    assert "recorded: auditor: seed-consistency" in decision  # the stored reason, last
    findings = text(page.text.split('<table class="findings">')[1].split("</table>")[0])
    assert "seed-consistency would block (the node was not better anyway)" in findings
    # its per-seed table's mean counts the screening seed it was picked on: the judge's is named
    seeds = text(page.text.split('<table class="seeds">')[1].split("</p>")[0])
    assert ("+0.01447 val_bpb (+ = better); the judge's test, on the fresh seeds only: "
            "-0.30% vs #2 (2 pairs)") in seeds

    blocked = client.get(f"/runs/{key}/nodes/6").text
    assert text(blocked.split('class="reason')[1].split("</div>")[0]).startswith(
        's-rejected"> auditor: fresh-data · +5.19% vs #2 (2 pairs)')
    assert "fresh-data blocking" in text(blocked.split('<table class="findings">')[1])
    crashed = client.get(f"/runs/{key}/nodes/8").text
    assert "failed: crashed" in text(crashed.split('class="reason')[1].split("</div>")[0])


def test_a_person_reads_the_node_table_in_chromium(served):
    expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect
    from playwright.sync_api import sync_playwright

    from recursor.ui.serve import serving

    chromium = next((p for p in (os.environ.get("RECURSOR_CHROMIUM"), "/usr/bin/chromium",
                                 shutil.which("chromium")) if p and os.access(p, os.X_OK)), None)
    if chromium is None:
        pytest.skip("no Chromium here: sh scripts/install-browser.sh installs Debian's")
    _, key, root = served
    with sync_playwright() as pw, serving(root) as base:
        try:
            browser = pw.chromium.launch(executable_path=chromium, timeout=30_000,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
        except Exception as err:
            pytest.skip(f"Chromium does not start here: {str(err).splitlines()[0]}")
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base}/runs/{key}")
        rows = page.locator("table.nodes tbody tr")
        expect(rows).to_have_count(len(made_run.EXPECTED))
        for i, (effect, why) in made_run.EXPECTED.items():
            row = rows.nth(i - 1)
            if effect:
                expect(row.locator(".effect")).to_have_text(effect)
            expect(row.locator('[class^="w-"]')).to_have_text(why)
        browser.close()
