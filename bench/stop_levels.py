"""The test looks' stop level, replayed on the full arms of `bench/value_function.py`.

    python bench/stop_levels.py runs/bench-value/*-full --level 0.10 --level 0.15 --level 0.20

Every run of an arm without early stopping went to its end, so for each level the replays of
bench/value_replay.py say which nodes the test looks would have given up and whether any was
accepted in the end. Pooled over the arms given, per level: the screen looks (nodes given up
while their screen ran, accepted nodes among them, seed runs saved) and the looks between fresh
pairs (nodes given up, passed tests and accepted nodes among them, fresh runs saved). A level
is a trade: each step up saves runs and, past some point, loses winners; the level the loop
uses by default (recursor.value.StopSettings.test_risk) was chosen on this table.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from value_replay import futility_counts, screen_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="full arms (runs without early stop)")
    parser.add_argument("--level", type=float, action="append", default=None,
                        help="a test stop level to replay (repeat; default 0.10, 0.15, 0.20)")
    args = parser.parse_args()
    console = Console()
    console.print(f"{time.strftime('%Y-%m-%d %H:%M')} · {platform.node()} · "
                  f"{len(args.runs)} full arms: {', '.join(r.name for r in args.runs)}")
    table = Table(title="test-look stop levels, pooled over the arms", header_style="bold")
    for col in ("level", "given up in their screen", "of them accepted", "seed runs saved",
                "same runs, sooner", "given up after their screen", "test passed / accepted",
                "fresh runs saved"):
        table.add_column(col, justify="right")
    for level in args.level or [0.10, 0.15, 0.20]:
        screen = [screen_counts(r, level, [r]) for r in args.runs]
        pairs = [futility_counts(r, level) for r in args.runs]
        pool = {k: sum(c[k] for c in screen) for k in screen[0]}
        fresh = {k: sum(c[k] for c in pairs) for k in pairs[0]}
        saved, total = pool["saved"], pool["total"]
        table.add_row(
            f"{level:g}", f"{pool['stopped']}/{pool['looked']}",
            f"{pool['false']} of {pool['accepted']}",
            f"{saved:.1f}/{total} ({saved / total:.0%})",
            f"{total / (total - saved):.2f}x",
            f"{fresh['at_screen'] + fresh['between']}/{fresh['looked']}",
            f"{fresh['false']} / {fresh['lost']}",
            f"{fresh['saved']}/{fresh['runs']} ({fresh['saved'] / fresh['runs']:.0%})")
    console.print(table)


if __name__ == "__main__":
    main()
