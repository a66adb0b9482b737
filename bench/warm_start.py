"""What the warm sandbox saves on one tiny-lm experiment: torch imported once for train and predict.

    python bench/warm_start.py [--repeats 4] [--budget test|task]

Runs the same experiment (vanilla train.py, seed 1) with `settings.preload = ["torch"]` (the
task's default: the sandbox's init imports torch, train and predict are forked from it) and with
`settings.preload = []` (each run a fresh interpreter that imports torch itself), alternating, so
that both see the same machine, in the sandbox a run would take. Prints the wall time of the
whole experiment (the torch import of the warm init runs beside the harness's data preparation)
and the CPU time the harness's audits see for train and predict (counted from the fork, so the
warm runs' exclude the import), as medians, and their ratios. The metric must be the same both
ways: the warm start changes no result.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from recursor.executor.local import run_job
from recursor.executor.sandbox import detect
from recursor.loop.jobs import make_job, resolve_data
from recursor.task import load_task

# the tests' budget (tests/conftest.py SMALL): where the import is most of an experiment
TEST_BUDGET = {
    "budget.train_tokens": 16384,
    "budget.train_seconds": 60,
    "limits.timeout_seconds": 120,
    "settings.eval_windows": 64,
}
WAYS = {"warm (preload torch)": ["torch"], "cold (fresh interpreters)": []}


def one(overrides: dict, preload: list[str], folder: Path, name: str, sandbox) -> dict:
    task = load_task("tiny-lm", {**overrides, "settings.preload": preload})
    program = folder / "program"
    program.mkdir(exist_ok=True)
    (program / "train.py").write_text(task.program_files()["train.py"])
    job = make_job(task, program, folder / name, 1, "val_bpb", resolve_data(task),
                   sandbox=sandbox)
    t0 = time.monotonic()
    result = run_job(job)
    wall = time.monotonic() - t0
    if not result.ok:
        sys.exit(f"{name}: the experiment failed: {result.reason}")
    usage = {}
    for line in job.metrics_file.read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "result":
            usage = record["usage"]
    return {"wall": wall, "train_cpu": usage["train"]["cpu"],
            "predict_cpu": usage["predict"]["cpu"], "value": result.value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--budget", choices=("test", "task"), default="test",
                        help="the tests' small budget, or the task's own")
    args = parser.parse_args()
    overrides = TEST_BUDGET if args.budget == "test" else {}
    results: dict[str, list[dict]] = {way: [] for way in WAYS}
    sandbox = detect()  # what a run takes: the strongest sandbox that works here
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            # alternate which goes first, so that neither always follows the other
            order = list(WAYS) if i % 2 == 0 else list(reversed(WAYS))
            for way in order:
                folder = Path(tmp) / f"{i}"
                folder.mkdir(exist_ok=True)
                results[way].append(one(overrides, WAYS[way], folder, way.split()[0], sandbox))
    values = {r["value"] for rs in results.values() for r in rs}
    console = Console()
    console.print(f"{time.strftime('%Y-%m-%d %H:%M')} · {platform.node()} · "
                  f"{platform.machine()} · {sandbox.kind} sandbox · {args.budget} budget · "
                  f"{args.repeats} runs each, "
                  f"medians · val_bpb {'identical' if len(values) == 1 else sorted(values)}")
    table = Table()
    table.add_column("")
    for column in ("experiment wall s", "train CPU s", "predict CPU s"):
        table.add_column(column, justify="right")
    med = {way: {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "value"}
           for way, rs in results.items()}
    for way in WAYS:
        m = med[way]
        table.add_row(way, f"{m['wall']:.2f}", f"{m['train_cpu']:.2f}", f"{m['predict_cpu']:.2f}")
    warm, cold = (med[w] for w in WAYS)
    table.add_row("cold / warm", *(f"{cold[k] / warm[k]:.2f}x" for k in
                                   ("wall", "train_cpu", "predict_cpu")))
    console.print(table)


if __name__ == "__main__":
    main()
