"""Throughput of the Ray executor on `tiny-lm` as workers are added, same budget.

    python bench/scaling.py                                   # 1 and 2 workers
    python bench/scaling.py --workers 1 2 4 8 --experiments 8 --ray-address head:6379

One run per worker count, one after the other (never side by side), each through
`recursor.run(..., executor="ray")` with the same task, budget, overrides and run seed, in its
own folder under --runs-dir. An "experiment" here is one harness run (one program, one seed):
the unit the executor schedules. The budget's --experiments counts candidates, and each
candidate costs several runs (screen, confirmation pairs, remaining seeds), so a run's count of
finished experiments depends on its verdicts too; experiments per hour is the fair comparison.

Columns: workers; wall seconds of the run (Ray start-up included); experiments finished
(stopped early ones included); experiments per hour, from the runs' own start and finish times
(first start to last finish); speedup in experiments per hour over 1 worker (over the fewest
workers measured, when 1 is not among them); and from the run report's `engine` section, when
the report has one: the share of wall time in which a worker was free and the budget allowed
more but nothing ran (engine overhead) and candidates decided per hour.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import recursor
from recursor.store.records import EvalStatus
from recursor.task import parse_override

# one experiment of ~10-20 s on one core here, so a few candidates take minutes, not hours
DEFAULT_OVERRIDES = {"budget.train_tokens": 100_000}


def throughput(run: Any) -> tuple[int, float | None]:
    """(experiments finished, experiments per hour) from the evaluations' own times."""
    done = [e for n in run.nodes() for e in n.evaluations
            if e.finished_at is not None and e.status in (EvalStatus.OK, EvalStatus.FAILED,
                                                          EvalStatus.STOPPED)]
    if not done:
        return 0, None
    span = max(e.finished_at for e in done) - min(e.started_at for e in done)
    return len(done), (len(done) / span * 3600 if span > 0 else None)


def number(record: dict[str, Any], *keys: str) -> bool:
    """Whether the report gives every one of `keys` as a number (older reports have none)."""
    return all(isinstance(record.get(k), (int, float)) for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="tiny-lm")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--experiments", type=int, default=6, help="candidates per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ray-address", default=None,
                        help="a running Ray cluster (default: a local instance per run)")
    parser.add_argument("--sandbox", default="auto")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="task.toml override (default budget.train_tokens=100000)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench-scaling"))
    args = parser.parse_args()
    overrides = dict(DEFAULT_OVERRIDES)
    overrides.update(parse_override(o) for o in args.overrides)

    console = Console()
    if not console.is_terminal:
        console = Console(width=180)  # a log file: keep the table on one line per row
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    for workers in sorted(set(args.workers)):
        run_dir = args.runs_dir / f"{stamp}-workers{workers}"
        console.print(f"[bold]{workers} worker(s)[/] → {run_dir}")
        t0 = time.monotonic()
        run = recursor.run(args.task, run_dir=run_dir, experiments=args.experiments,
                           workers=workers, seed=args.seed, overrides=overrides,
                           sandbox=args.sandbox, executor="ray", ray_address=args.ray_address)
        wall = time.monotonic() - t0
        finished, per_hour = throughput(run)
        rows.append((workers, wall, finished, per_hour, run.report().get("engine")))
        run.close()

    base = rows[0]
    reference = "1 worker" if base[0] == 1 else f"{base[0]} workers"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    table = Table(title=f"Ray executor scaling on {args.task} — {time.strftime('%Y-%m-%d')}, "
                        f"{platform.machine()}, {cores} cores, {platform.node()}; "
                        f"{args.experiments} candidates per run, "
                        f"{', '.join(f'{k}={v}' for k, v in overrides.items())}")
    for col in ("workers", "wall s", "experiments finished", "experiments/h",
                f"speedup vs {reference}", "engine overhead", "decided/h"):
        table.add_column(col, justify="right")
    for workers, wall, finished, per_hour, engine in rows:
        speedup = (f"{per_hour / base[3]:.2f}x" if per_hour and base[3] else "n/a")
        engine = engine or {}
        overhead = (f"{engine['overhead_fraction']:.1%} ({engine['overhead_seconds']:.0f} s)"
                    if number(engine, "overhead_fraction", "overhead_seconds") else "n/a")
        decided = (f"{engine['decided_per_hour']:.1f}" if number(engine, "decided_per_hour")
                   else "n/a")
        table.add_row(str(workers), f"{wall:.0f}", str(finished),
                      f"{per_hour:.1f}" if per_hour else "n/a", speedup, overhead, decided)
    console.print(table)


if __name__ == "__main__":
    main()
