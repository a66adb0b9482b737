"""Live progress of a run in the terminal: what is running, its curve, best so far, budget left.

On a terminal, a panel redraws in place and decisions scroll above it; in a log file or a pipe,
each event is one plain line.
"""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from recursor.loop.progress import Progress

STYLES = {
    "accepted": "bold green",
    "rejected": "yellow",
    "failed": "red",
    "proposed": "cyan",
    "baseline": "bold",
    "finished": "bold",
    "interrupted": "bold red",
    "integrity": "bold red",
}
QUIET_KINDS = {"evaluated"}  # shown on a terminal only in the live panel's counts


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RichObserver:
    def __init__(self, console: Console | None = None, verbose: bool = False):
        self.console = console or Console()
        self.verbose = verbose
        self._live: Live | None = None
        self._last = 0.0

    def __enter__(self) -> RichObserver:
        if self.console.is_terminal:
            self._live = Live(Text("starting..."), console=self.console, refresh_per_second=2,
                              transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def on_event(self, kind: str, message: str, node_id: int | None) -> None:
        if kind in QUIET_KINDS and not self.verbose and self._live is not None:
            return
        stamp = time.strftime("%H:%M:%S")
        self.console.print(Text(f"{stamp} ", style="dim") + Text(message, style=STYLES.get(kind, "")),
                           highlight=False, soft_wrap=True)

    def on_progress(self, progress: Progress) -> None:
        if self._live is None:
            return
        self._live.update(render_progress(progress))


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: tuple[float, ...]) -> str:
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(SPARKS[min(7, int((v - lo) / span * 8))] for v in values)


def render_progress(p: Progress) -> Group:
    budget = []
    if p.experiments_budget is not None:
        budget.append(f"experiments {p.experiments}/{p.experiments_budget}")
    if p.minutes_budget is not None:
        left = max(0.0, p.minutes_budget * 60 - p.elapsed)
        budget.append(f"time left {_clock(left)}")
    head = Text.assemble(
        (f"{p.task} ", "bold"),
        f"elapsed {_clock(p.elapsed)} · {' · '.join(budget)} · workers {p.workers} · ",
        ", ".join(f"{v} {k}" for k, v in sorted(p.counts.items())) or "no candidates yet",
    )
    best = Text("")
    if p.baseline is not None:
        best = Text(f"baseline {p.metric} {p.baseline:.4f}")
        if p.best is not None and p.best_node is not None and p.best != p.baseline:
            gain = (p.baseline - p.best) if p.minimize else (p.best - p.baseline)
            best.append(f"   best {p.best:.4f} (node {p.best_node}, "
                        f"{100 * gain / abs(p.baseline):+.2f}%)", style="bold green")
    table = Table(box=None, pad_edge=False, header_style="dim")
    for col in ("node", "idea", "seed", "stage", "time", "step", p.curve.replace("_", " "),
                "curve"):
        table.add_column(col, justify="right" if col in ("node", "seed", "time", "step") else "left")
    for r in p.running:
        point = r.point or {}
        loss = point.get(p.curve)
        table.add_row(str(r.node_id), r.title[:48], str(r.seed), r.stage, _clock(r.seconds),
                      str(point.get("step", "")),
                      f"{loss:.4f}" if isinstance(loss, (int, float)) else "",
                      sparkline(r.losses))
    return Group(head, best, table)
