"""Does the meta-loop find a better research process? Held-out anytime yield of the default
process, of the best of random processes at equal meta-budget, and of the meta-loop's best.

    python bench/meta_yield.py --minutes 30

1. The meta-loop: `recursor run meta-research --minutes M` (the library of meta-ideas), whose
   best process is the result it reports.
2. Random search at equal meta-budget: processes drawn uniformly from the task's declared space
   (seeded), each run on the training pairs, until the inner runs have spent the compute the
   meta-loop spent; the one with the best mean training yield.
3. The held-out tasks, read here only: the default, the default again, the random best and the
   meta best, each on every held-out (task, run seed) pair, under one result cache. The
   default against itself must differ by exactly 0 (deterministic inner runs, replayed); the
   others are paired with the default pair by pair: mean difference and its 95% t-interval.

Printed: the held-out table, per task; the canaries of every inner run (null changes and cheats
planted, accepted); the compute spent (seed-run equivalents, CPU-hours, wall time).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
import tomllib
from pathlib import Path

from rich.console import Console
from rich.table import Table
from scipy import stats

import recursor
from recursor.meta.inner import InnerRun, inner_run
from recursor.settings.process import process_of
from recursor.store import NodeStatus, RunStore
from recursor.task import load_task
from recursor.task.space import write_values

TASK = load_task("meta-research")
BUDGET = TASK.spec.budget


def pairs(evaluation: str, run_seeds: int) -> list[tuple[dict, int]]:
    tasks = TASK.spec.evaluation(evaluation).model_dump()["tasks"]
    return [(t, s) for s in range(run_seeds) for t in tasks]


def run_process(text: str, where: Path, todo: list[tuple[dict, int]], cache: Path,
                ) -> list[InnerRun]:
    where.mkdir(parents=True, exist_ok=True)
    program = where / "meta.toml"
    program.write_text(text)
    out = []
    for entry, seed in todo:
        run_dir = where / f"{entry['task']}-{seed}"
        shutil.rmtree(run_dir, ignore_errors=True)
        out.append(inner_run(entry, seed, program, run_dir=run_dir,
                             seed_runs=float(BUDGET["seed_runs"]),
                             experiments=int(BUDGET["experiments"]), cache=cache))
    return out


def meta_best(run_dir: Path) -> tuple[str, str, float]:
    """The meta run's best process: its meta.toml, title, and compute spent (SRE) by its
    inner runs."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        nodes = store.nodes()
        spent = sum(e.metrics.get("metrics", {}).get("seed_runs", 0.0) for n in nodes
                    for e in n.evaluations)
        accepted = [n for n in nodes if n.status is NodeStatus.ACCEPTED]
        seeds = TASK.spec.seeds.values
        best = max(accepted, key=lambda n: (n.mean("yield", seeds) or -math.inf, -n.id))
        return store.files(best)["meta.toml"], best.title, spent
    finally:
        store.close()


def random_search(out: Path, budget_sre: float, cache: Path, seed: int) -> tuple[str, list]:
    """Processes drawn from the declared space until `budget_sre` is spent on the training
    pairs; the best by mean training yield, and every (label, mean) tried."""
    rng = random.Random(seed)
    base = TASK.program_files()["meta.toml"]
    spent, tried, best = 0.0, [], (-math.inf, base)
    train = pairs("yield", 1)
    while spent < budget_sre:
        point = {s.key: (rng.choice(s.choices) if s.choices is not None
                         else _uniform(rng, s)) for s in TASK.spec.space}
        text = write_values(base, point)
        runs = run_process(text, out / f"random-{len(tried)}", train, cache)
        spent += sum(r.anytime.total_sre for r in runs)
        mean = sum(r.value for r in runs) / len(runs)
        tried.append((process_of(tomllib.loads(text)).label, mean))
        best = max(best, (mean, text))
    return best[1], tried


def _uniform(rng: random.Random, spec) -> float:
    if spec.log:
        return math.exp(rng.uniform(math.log(spec.low), math.log(spec.high)))
    value = rng.uniform(spec.low, spec.high)
    return round(value) if spec.integer else value


def paired(mine: list[InnerRun], default: list[InnerRun]) -> tuple[float, tuple[float, float]]:
    diffs = [a.value - b.value for a, b in zip(mine, default, strict=True)]
    mean = sum(diffs) / len(diffs)
    if len(diffs) < 2 or all(d == diffs[0] for d in diffs):
        return mean, (mean, mean)
    half = stats.t.ppf(0.975, len(diffs) - 1) * stats.sem(diffs)
    return mean, (mean - half, mean + half)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30, help="the meta-loop's budget")
    p.add_argument("--heldout-seeds", type=int, default=1, help="run seeds per held-out task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/meta-yield"))
    args = p.parse_args()
    console = Console(width=160)  # the per-task column is wide; a narrow terminal wraps it
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cache"  # one cache for everything: repeats are free, charged their cost
    started = time.time()

    meta_dir = out / "meta"
    if not (meta_dir / "run.db").exists():
        recursor.run("meta-research", minutes=args.minutes, run_dir=meta_dir, workers=1,
                     seed=args.seed, discoveries=False, heldout=False, cache=cache)
    best_text, best_title, meta_sre = meta_best(meta_dir)
    random_text, tried = random_search(out / "random", meta_sre, cache, args.seed)

    held = pairs("yield_heldout", args.heldout_seeds)
    default_text = TASK.program_files()["meta.toml"]
    results = {name: run_process(text, out / "heldout" / name, held, cache) for name, text in (
        ("default", default_text), ("default-again", default_text),
        ("random-best", random_text), ("meta-best", best_text))}

    table = Table(title=f"Held-out anytime yield ({len(held)} pairs: "
                        f"{', '.join(sorted({e['task'] for e, _ in held}))})")
    for col in ("process", "mean yield", "vs default (paired)", "95% CI",
                "per task: yield (vs default)"):
        table.add_column(col)
    base = results["default"]
    rows = {}
    for name, runs in results.items():
        mean = sum(r.value for r in runs) / len(runs)
        diff, ci = paired(runs, base)
        per_task = ", ".join(f"{r.task} {r.value:.4f} ({r.value - b.value:+.4f})"
                             for r, b in zip(runs, base, strict=True))
        table.add_row(name, f"{mean:+.4f}", f"{diff:+.4f}", f"[{ci[0]:+.4f}, {ci[1]:+.4f}]",
                      per_task)
        rows[name] = {"mean": mean, "diff": diff, "ci95": ci,
                      "per_pair": [r.value for r in runs]}
    console.print(table)
    every = [r for runs in results.values() for r in runs]
    nulls = sum(r.canaries.nulls for r in every)
    cheats = sum(r.canaries.cheats for r in every)
    console.print(f"canaries in the held-out runs: {sum(r.canaries.nulls_accepted for r in every)}"
                  f" of {nulls} null changes accepted, "
                  f"{sum(r.canaries.cheats_accepted for r in every)} of {cheats} cheats accepted")
    console.print(f"meta-loop best: {best_title} ({process_of(tomllib.loads(best_text)).label});"
                  f" random best of {len(tried)}: "
                  f"{process_of(tomllib.loads(random_text)).label}")
    console.print(f"compute: meta-loop inner runs {meta_sre:.0f} SRE; held-out runs "
                  f"{sum(r.anytime.total_sre for r in every):.0f} SRE, "
                  f"{sum(r.anytime.cpu_hours for r in every):.2f} CPU-h; wall "
                  f"{(time.time() - started) / 60:.0f} min")
    (out / "summary.json").write_text(json.dumps(
        {"rows": rows, "random_tried": tried, "meta_best": best_title,
         "meta_sre": meta_sre}, indent=2))


if __name__ == "__main__":
    main()
