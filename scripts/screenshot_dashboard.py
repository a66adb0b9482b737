"""Screenshot of the dashboard's page of a run, for the README: docs/dashboard.png.

    python scripts/screenshot_dashboard.py runs/demo                  # -> docs/dashboard.png
    python scripts/screenshot_dashboard.py runs/demo --node 5 --out docs/node.png

Serves the run on a free loopback port and photographs it with the system's Chromium (see
scripts/install-browser.sh; RECURSOR_CHROMIUM names another binary) driven by Playwright.
Needs `pip install 'recursor[ui]' playwright`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    for candidate in (os.environ.get("RECURSOR_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    sys.exit("no Chromium found: run `sh scripts/install-browser.sh` or set RECURSOR_CHROMIUM")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder")
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    parser.add_argument("--node", type=int, help="photograph this node's page instead")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1000, help="the page is cut at this height")
    args = parser.parse_args()
    if not (args.run / "run.db").is_file():
        sys.exit(f"{args.run} is not a run folder (no run.db in it)")

    from playwright.sync_api import sync_playwright

    from recursor.ui.serve import serving

    path = "/runs/" + quote(args.run.resolve().name)
    if args.node is not None:
        path += f"/nodes/{args.node}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with serving(args.run) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        response = page.goto(base + path)
        if response is None or not response.ok:
            sys.exit(f"{base + path} answered {response.status if response else 'nothing'}")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(args.out))
        browser.close()
    print(f"wrote {args.out} ({base}{path}, {args.width}x{args.height})")


if __name__ == "__main__":
    main()
