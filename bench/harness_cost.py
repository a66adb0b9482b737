"""What a change of the tiny-lm harness costs an experiment: the harness at a past revision
against the current one, side by side.

    python bench/harness_cost.py --old 85565ac [--repeats 3] [--budget test|task]

Runs the vanilla program (seed 1) through the harness as it was at `--old` (read from git,
into a copy of the task folder) and through the current one, alternating, so that both see
the same machine, in the sandbox a run would take. Prints the medians of the experiment's wall
time and of the CPU the harness's audits see for train and predict, their ratios, and val_bpb
(which a harness change must leave as it was, to float noise).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from recursor.executor.local import run_job
from recursor.executor.sandbox import detect
from recursor.loop.jobs import make_job, resolve_data
from recursor.task import load_task

REPO = Path(__file__).resolve().parents[1]
HARNESS = "src/recursor/task/builtin/tiny_lm/harness.py"
TEST_BUDGET = {  # tests/conftest.py's SMALL
    "budget.train_tokens": 16384,
    "budget.train_seconds": 60,
    "limits.timeout_seconds": 120,
    "settings.eval_windows": 64,
}


def task_at(revision: str, folder: Path):
    """A copy of the tiny-lm task folder whose harness is the one at `revision`."""
    current = load_task("tiny-lm")
    shutil.copytree(current.root, folder / "tiny-lm")
    old = subprocess.run(["git", "show", f"{revision}:{HARNESS}"], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    (folder / "tiny-lm" / "harness.py").write_text(old)
    return folder / "tiny-lm"


def one(task, folder: Path, name: str, sandbox) -> dict:
    program = folder / name / "program"
    program.mkdir(parents=True)
    (program / "train.py").write_text(task.program_files()["train.py"])
    job = make_job(task, program, folder / name / "job", 1, "val_bpb", resolve_data(task),
                   sandbox=sandbox)
    t0 = time.monotonic()
    result = run_job(job)
    wall = time.monotonic() - t0
    if not result.ok:
        raise SystemExit(f"{name}: {result.reason}")
    usage = result.metrics["usage"]
    return {"wall": wall, "train_cpu": usage["train"]["cpu"],
            "predict_cpu": usage["predict"]["cpu"], "val_bpb": result.value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the git revision to compare with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", choices=("test", "task"), default="task")
    args = parser.parse_args()
    overrides = TEST_BUDGET if args.budget == "test" else {}
    sandbox = detect()
    with tempfile.TemporaryDirectory(prefix="recursor-harness-cost-") as tmp:
        root = Path(tmp)
        ways = {f"harness at {args.old}": load_task(task_at(args.old, root), overrides),
                "current harness": load_task("tiny-lm", overrides)}
        runs: dict[str, list[dict]] = {w: [] for w in ways}
        started = time.strftime("%Y-%m-%d %H:%M")
        for i in range(args.repeats):
            order = list(ways) if i % 2 == 0 else list(reversed(ways))
            for way in order:
                runs[way].append(one(ways[way], root, f"{i}-{len(runs[way])}-{way[:7]}",
                                     sandbox))
    table = Table(title=f"tiny-lm harness cost, {args.budget} budget, {sandbox.kind}, "
                        f"{started}, {platform.machine()} {platform.node()}, "
                        f"{args.repeats} runs each, alternating")
    for col in ("harness", "wall s", "train CPU s", "predict CPU s", "val_bpb"):
        table.add_column(col, justify="right")
    medians = {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
               for w, rs in runs.items()}
    for way, m in medians.items():
        table.add_row(way, f"{m['wall']:.2f}", f"{m['train_cpu']:.2f}",
                      f"{m['predict_cpu']:.2f}", f"{m['val_bpb']:.5f}")
    old, new = medians.values()
    table.add_row("current / old", f"{new['wall'] / old['wall']:.2f}x",
                  f"{new['train_cpu'] / old['train_cpu']:.2f}x",
                  f"{new['predict_cpu'] / old['predict_cpu']:.2f}x",
                  f"{new['val_bpb'] - old['val_bpb']:+.1e}")
    Console().print(table)


if __name__ == "__main__":
    main()
