"""Continual learning on `tiny-lm`: a second run with the discovery library, against the first.

    python bench/continual.py --minutes 15
    python bench/continual.py --minutes 4 --set budget.train_tokens=100000   # a quick look

Run 1 starts from an empty discovery library (a fresh folder under --runs-dir) and keeps every
node it accepts there. Run 2 is the same task with another run seed and the library run 1 left:
its library proposer tries run 1's discoveries first, on its own baseline, each judged again
from nothing (screen, fresh confirmation seeds, the auditor). Both runs have the same budget and
workers and run one after the other (run 2 needs run 1's library), so they do not share the
machine with each other; a busy machine slows both.

Prints per run: wall minutes, candidates decided, accepted (and of those, from the library),
best val_bpb, and the minutes until the run first accepted a node at least as good as run 1's
best (the "target"; a node's mean over the task's seeds). The line under the table gives the
headline: run 2 reached run 1's best in this fraction of run 1's wall time (and of the time run
1 itself needed to get there).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import recursor
from recursor.store import NodeStatus
from recursor.task import parse_override


def reached(run, target: float, minimize: bool) -> float | None:
    """Minutes from the run's start until it accepted a node at least as good as `target`."""
    spec = run.task.spec
    seeds = list(spec.seeds.values)
    start = min(e.started_at for n in run.nodes() for e in n.evaluations)
    hits = []
    for n in run.nodes():
        mean = n.mean(spec.metric.name, seeds)
        if (n.status is NodeStatus.ACCEPTED and not n.is_baseline and mean is not None
                and (mean <= target if minimize else mean >= target)):
            hits.append(n.decided_at)
    return (min(hits) - start) / 60 if hits else None


def row(name: str, run, target: float, minimize: bool) -> list[str]:
    rep = run.report()
    c, d = rep["counts"], rep["discoveries"]
    got = reached(run, target, minimize)
    from_lib = len(d.get("accepted_from_library", [])) if d.get("enabled") else 0
    return [name, f"{rep['wall_seconds'] / 60:.1f}", str(c["experiments"] - c["running"]),
            f"{c['accepted']} ({from_lib} from the library)",
            f"{rep['best']['mean']:.4f}" if rep["best"] else "–",
            f"{got:.1f}" if got is not None else "not reached"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15, help="wall-clock budget per run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="run 1's seed; run 2 takes seed + 1")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="task.toml override, e.g. --set budget.train_tokens=100000")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench-continual"))
    args = parser.parse_args()
    overrides = dict(parse_override(o) for o in args.overrides)
    console = Console() if Console().is_terminal else Console(width=160)
    console.print(f"{time.strftime('%Y-%m-%d %H:%M')} · {platform.node()} · "
                  f"{mp.cpu_count()} cores · {platform.processor() or platform.machine()}")
    folder = args.runs_dir / time.strftime("%Y%m%d-%H%M%S")
    library = folder / "discoveries"  # empty: run 1 starts with no memory
    runs = []
    for i in (1, 2):
        runs.append(recursor.run("tiny-lm", run_dir=folder / f"run{i}", minutes=args.minutes,
                                 workers=args.workers, seed=args.seed + i - 1,
                                 overrides=overrides, discoveries_dir=library))
        console.print(f"run {i}: {runs[-1].run_dir} ({len(list(library.glob('*/discovery.json')))}"
                      " discoveries in the library after it)")
    spec = runs[0].task.spec
    first = runs[0].report()
    target = first["best"]["mean"]
    table = Table(title=f"tiny-lm, {args.minutes:g} min per run, {args.workers} workers, one run "
                        "after the other", header_style="bold")
    for col in ("run", "wall min", "candidates decided", "accepted", "best val_bpb",
                f"min to reach run 1's best ({target:.4f})"):
        table.add_column(col)
    table.add_row(*row("1: empty library", runs[0], target, spec.minimize))
    table.add_row(*row("2: run 1's library", runs[1], target, spec.minimize))
    console.print(table)
    t1_best = reached(runs[0], target, spec.minimize)
    t2 = reached(runs[1], target, spec.minimize)
    wall1 = first["wall_seconds"] / 60
    if t2 is None:
        console.print("run 2 did not reach run 1's best within its budget")
    else:
        console.print(f"run 2 reached run 1's best val_bpb in {t2 / wall1:.0%} of run 1's wall "
                      f"time ({t2:.1f} of {wall1:.1f} min)"
                      + (f"; run 1 itself needed {t1_best:.1f} min, so {t2 / t1_best:.0%} of "
                         "that" if t1_best else ""))


if __name__ == "__main__":
    main()
