"""Research yield and diversity of the search policies on `tiny-lm`, same budget.

    python bench/research_yield.py --experiments 16 --repeats 1
    python bench/research_yield.py --policies greedy best-first islands map-elites

Each policy gets its own run with the same task, budget, workers and run seed, one after the
other (never side by side, so that neither steals the other's cores). Prints one row per run
and per policy: best val_bpb, improvement over the run's own baseline with its 95% interval,
accepted steps, experiments, failures and wall time, and how widely it searched: idea categories
tried and accepted, branches, and the entropy of the categories tried. Run folders are kept
under --runs-dir for inspection with `recursor report`.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import recursor
from recursor.policy import POLICIES as ALL
from recursor.task import parse_override

POLICIES = tuple(ALL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--task", default="tiny-lm")
    parser.add_argument("--experiments", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1, help="run seeds per policy")
    parser.add_argument("--policies", nargs="+", default=["greedy", "best-first"],
                        choices=POLICIES)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="task.toml override, e.g. --set budget.train_tokens=100000")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench-yield"))
    args = parser.parse_args()
    overrides = dict(parse_override(o) for o in args.overrides)

    console = Console()
    if not console.is_terminal:
        console = Console(width=180)  # a log file: keep the table on one line per row
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    for repeat in range(args.repeats):
        for policy in args.policies:
            run_dir = args.runs_dir / f"{stamp}-{policy}-seed{repeat}"
            console.print(f"[bold]{policy}[/] run seed {repeat} → {run_dir}")
            t0 = time.monotonic()
            run = recursor.run(args.task, run_dir=run_dir, experiments=args.experiments,
                               minutes=args.minutes, policy=policy, workers=args.workers,
                               seed=repeat, overrides=overrides)
            wall = time.monotonic() - t0
            report = run.report()
            rows.append((policy, repeat, report, wall))

    metric = rows[0][2]["metric"]["name"]
    table = Table(title=f"research yield on {args.task} — {time.strftime('%Y-%m-%d')}, "
                        f"{platform.machine()}, {platform.node()}")
    for col in ("policy", "run seed", f"baseline {metric}", f"best {metric}",
                "improvement (95% CI)", "accepted steps", "depth", "experiments", "failed",
                "categories tried/accepted", "branches", "entropy bits", "wall min"):
        table.add_column(col, justify="right")
    for policy, repeat, r, wall in rows:
        best, base, c, d = r["best"], r["baseline"], r["counts"], r["diversity"]
        ci = best.get("ci95")
        ci_text = f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else ""
        table.add_row(policy, str(repeat), f"{base['mean']:.4f}", f"{best['mean']:.4f}",
                      f"{best['improvement_pct']:+.2f}%{ci_text}", str(c["accepted"]),
                      str(len(best["lineage"]) - 1), str(c["experiments"]), str(c["failed"]),
                      f"{len(d['categories_tried'])}/{len(d['categories_accepted'])}",
                      str(d["branches"]), f"{d['category_entropy_bits']:.2f}",
                      f"{wall / 60:.1f}")
    console.print(table)
    if args.repeats > 1:
        for policy in args.policies:
            gains = [r["best"]["improvement_pct"] for p, _, r, _ in rows if p == policy]
            console.print(f"{policy}: mean improvement {statistics.mean(gains):+.2f}% over "
                          f"{len(gains)} runs")


if __name__ == "__main__":
    main()
