"""The kernel suite: a research run per problem, then eager, compiled and best times side by side.

    python bench/kernels.py                         # every built-in kernel task, on this machine
    python bench/kernels.py --tasks kernel-softmax kernel-gelu --experiments 4

For each problem, a research run with the built-in idea library (the ideas that run on this
machine: C/C++ CPU kernels and PyTorch rewrites on a CPU, Triton and CUDA too on a GPU), every
candidate through the sandbox, the harness's defences and the judge. Then the best accepted
node (the baseline if none) runs the held-out evaluation, against `torch.compile` of the
reference, on the task's first two seeds (only that node: each compile of the reference costs
~45 s here, in a fresh sandbox). Then one row per problem:

- eager ms, compiled ms: the reference's median call (PyTorch eager; torch.compile of it), as
  measured beside the best candidate;
- best ms, the best accepted node's median call, and its speedup over eager and over compiled:
  the geometric mean over its seeds, with the range of the seeds' 95% intervals (each interval
  from that seed's interleaved timed pairs);
- defences: the findings of the best node (none for an accepted node) and its correctness sets.

then the geometric-mean speedups and fast_p (KernelBench's share of problems solved correctly
with a speedup above p) for p = 1 and 1.5, over eager and over compiled. A problem whose
run accepted nothing counts at speedup 1.0 (the baseline is the reference itself), as
KernelBench counts a problem without a correct faster kernel.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import recursor
from recursor.store.records import NodeStatus
from recursor.task.folder import BUILTIN, load_task


def kernel_tasks() -> list[str]:
    return [load_task(p.parent).name for p in sorted((BUILTIN / "kernels").glob("*/task.toml"))]


def gmean(xs: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(x) for x in xs)) if xs else float("nan")


def summary(node, evaluation: str) -> dict | None:
    """Speedup (geometric mean over seeds), interval range, median times of a node's runs."""
    runs = [e for e in node.evaluations if e.evaluation == evaluation and e.value
            and e.metrics.get("timing")]
    if not runs:
        return None
    return combine([e.value for e in runs], [e.metrics["timing"] for e in runs])


def combine(values: list[float], timing: list[dict]) -> dict:
    """Seeds' speedups and timing records -> geometric mean, interval range, median times."""
    return {"speedup": gmean(values),
            "lo": min(t["speedup_ci95"][0] for t in timing),
            "hi": max(t["speedup_ci95"][1] for t in timing),
            "reference_ms": statistics.median(t["reference_ms"] for t in timing),
            "candidate_ms": statistics.median(t["candidate_ms"] for t in timing),
            "seeds": len(values)}


def against_compiled(run, node, where: Path) -> dict | None:
    """The held-out evaluation (against torch.compile) of `node`, on the task's first 2 seeds."""
    from recursor.executor.local import run_job
    from recursor.executor.sandbox import detect
    from recursor.loop.jobs import make_job

    task, sandbox = run.task, detect()
    values, timing = [], []
    for seed in task.spec.seeds.values[:2]:
        job = make_job(task, run.path(node.workspace), where / f"seed{seed}", seed,
                       "speedup_compiled", {}, sandbox=sandbox)
        result = run_job(job)
        if result.ok and result.value and not any(f["blocking"] for f in
                                                  result.metrics.get("findings", [])):
            values.append(result.value)
            timing.append(result.metrics["timing"])
    return combine(values, timing) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=None, help="default: every kernel task")
    parser.add_argument("--experiments", type=int, default=None,
                        help="per problem (default: as many as the problem has ideas)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench-kernels"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows, t_all = [], time.monotonic()
    for name in args.tasks or kernel_tasks():
        task = load_task(name)
        ideas = [i for i in task.ideas if i.runs_here()]
        run_dir = args.runs_dir / f"{stamp}-{name}"
        console.print(f"[bold]{name}[/]: {len(ideas)} ideas that run here → {run_dir}")
        t0 = time.monotonic()
        run = recursor.run(name, run_dir=run_dir, experiments=args.experiments or len(ideas),
                           policy="best-first", seed=args.seed, heldout=False)
        nodes = run.nodes()
        baseline = nodes[0]
        accepted = [n for n in nodes[1:] if n.status is NodeStatus.ACCEPTED]
        scored = [(summary(n, "speedup"), n) for n in accepted]
        scored = [(s, n) for s, n in scored if s]
        best_s, best = max(scored, key=lambda sn: sn[0]["speedup"]) if scored else (None, None)
        compiled = against_compiled(run, best or baseline, run_dir / "compiled")
        rows.append({
            "task": name, "minutes": (time.monotonic() - t0) / 60,
            "experiments": len(nodes) - 1, "accepted": len(accepted),
            "eager_ms": (best_s or summary(baseline, "speedup") or {}).get("reference_ms"),
            "compiled_ms": compiled and compiled["reference_ms"],
            "best": best, "eager": best_s,
            "compiled": compiled,
            "findings": [f.check for f in best.findings if f.blocking] if best else [],
        })

    table = Table(title=f"kernel suite · {time.strftime('%Y-%m-%d')} · {platform.machine()} · "
                        f"{platform.processor() or platform.platform()}")
    for col in ("problem", "eager ms", "compiled ms", "best ms", "vs eager [95%]",
                "vs compiled [95%]", "defences", "best idea", "exp/acc", "min"):
        table.add_column(col, justify="left" if col in ("problem", "best idea") else "right")

    def fmt(s):
        return f"{s['speedup']:.2f}× [{s['lo']:.2f}, {s['hi']:.2f}]" if s else "—"

    eager, compiled = [], []
    for r in rows:
        e = r["eager"]["speedup"] if r["eager"] else 1.0
        c = r["compiled"]["speedup"] if r["compiled"] else float("nan")
        eager.append(e)
        compiled.append(c)
        table.add_row(
            r["task"], f"{r['eager_ms']:.3f}" if r["eager_ms"] else "—",
            f"{r['compiled_ms']:.3f}" if r["compiled_ms"] else "—",
            f"{r['eager']['candidate_ms']:.3f}" if r["eager"] else "—",
            fmt(r["eager"]) if r["eager"] else "1.00× (none accepted)", fmt(r["compiled"]),
            "all passed" if not r["findings"] else ", ".join(r["findings"]),
            r["best"].title[:48] if r["best"] else "—",
            f"{r['experiments']}/{r['accepted']}", f"{r['minutes']:.1f}")
    console.print(table)
    valid_c = [c for c in compiled if not math.isnan(c)]
    console.print(
        f"geometric mean over {len(rows)} problems: {gmean(eager):.2f}× over eager, "
        f"{gmean(valid_c):.2f}× over torch.compile ({len(valid_c)} measured)\n"
        f"fast_1 {sum(e > 1 for e in eager) / len(rows):.0%}, "
        f"fast_1.5 {sum(e > 1.5 for e in eager) / len(rows):.0%} over eager; "
        f"fast_1 {sum(c > 1 for c in valid_c) / max(1, len(valid_c)):.0%}, "
        f"fast_1.5 {sum(c > 1.5 for c in valid_c) / max(1, len(valid_c)):.0%} over compiled\n"
        f"wall time {(time.monotonic() - t_all) / 60:.1f} min")


if __name__ == "__main__":
    main()
