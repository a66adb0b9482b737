"""A real model as researcher: what its proposals become, on tiny-lm and three kernel problems.

    sh ../shared/tools/local-llm/install.sh && sh ../shared/tools/local-llm/serve.sh
    python bench/llm_local.py --minutes 12                      # tiny-lm and the kernels
    python bench/llm_local.py --tasks tiny-lm --minutes 45 --full-budget --library-minutes 0

For each task, a research run with `--proposer llm` against an OpenAI-compatible server (one
worker: the server answers one request at a time and takes the other core), for `--minutes`;
then the built-in library proposer on the same task for `--library-minutes` (default: as long),
for experiments per hour side by side. The kernel problems are kernel-gelu (built in) and two
KernelBench problems imported with `recursor task import-kernelbench` (19_ReLU, 40_LayerNorm,
from the copies under tests/task/kernel/problems). tiny-lm runs at the tests' small budget unless
`--full-budget`.

One row per task, from the run's own records:

- proposals: finished proposals (a node came of it, or the researcher gave up after its
  repairs); then the share of them whose answers parsed, whose patch applied, that passed the
  static auditor, that ran (an experiment started), that ran ok (a seed finished and no check
  of the run blocked it: the program trained, or compiled and passed the kernel's correctness
  checks), and that were accepted; "ideas ran ok" counts an idea and the repairs of it
  (`repair of node N`, made after its experiment failed) as one, of the ideas proposed;
- rules: how the applier placed the blocks of the patches that applied (recursor.patch.match);
- repeats: answers that proposed what was tried (after which the model is given an untried
  direction of the library to implement; the last line says how many proposals were written
  so, and which accepted ideas were the model's own); trial caught: answers whose program crashed
  or gave a wrong output in the task's trial run and went back to the model; tokens and
  seconds per proposal; model calls per proposal;
- experiments/h: evaluations finished per hour of the run, for the model and for the library.

Every run folder is kept under --out, with each call's transcript in calls/.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

import recursor
from recursor.proposer.llm.repairs import REPAIR_TAG, repair_chain
from recursor.store import NodeStatus, RunStore

ROOT = Path(__file__).resolve().parents[1]
KERNELBENCH = ROOT / "tests" / "task" / "kernel" / "problems"
TASKS = ("tiny-lm", "kernel-gelu", "kb-19_relu", "kb-40_layernorm")
SMALL_LM = {"budget.train_tokens": 16384, "budget.train_seconds": 60}


def task_path(name: str, out: Path) -> str | Path:
    """A built-in task's name, or the folder of an imported KernelBench problem."""
    if not name.startswith("kb-"):
        return name
    folder = out / "tasks" / name
    if not folder.exists():
        from recursor.task.kernel.importer import import_kernelbench

        source = {"kb-19_relu": "19_ReLU.py", "kb-40_layernorm": "40_LayerNorm.py"}[name]
        result = import_kernelbench(KERNELBENCH / source, out / "tasks", shrink=True)
        if not result.ok:
            raise SystemExit(f"could not import {source}: {result.failed}")
    return folder


def research(task: str | Path, run_dir: Path, minutes: float, proposer: str,
             args: argparse.Namespace, overrides: dict) -> Path:
    models = {}
    if proposer == "llm":
        models_file = run_dir.parent / f"{run_dir.name}.models.toml"
        models_file.write_text(
            "[[models]]\n"
            f'model = "{args.model}"\nbase_url = "{args.base_url}"\n'
            f"max_tokens = {args.max_tokens}\ncontext_tokens = {args.context_tokens}\n"
            "timeout = 900.0\nmax_retries = 1\n")
        models = {"models_file": models_file}
        if args.process is not None:  # the researcher's brief and personas, as a process says
            models["process"] = args.process
        if args.brief_history is not None:
            models["brief_history"] = args.brief_history
    recursor.run(task, run_dir=run_dir, minutes=minutes, workers=1, proposer=proposer,
                 heldout=False, discoveries=False, overrides=overrides, **models)
    return run_dir


def measure(run_dir: Path) -> dict:
    store = RunStore.open(run_dir, readonly=True)
    try:
        nodes = [n for n in store.nodes() if n.idea]
        calls = store.calls()
        failed = [e for e in store.events(100_000) if e["kind"] == "proposal-failed"]
        sessions = store.sessions()
        hours = sum((s["ended_at"] or s["heartbeat_at"]) - s["started_at"] for s in sessions) / 3600
        evaluations = sum(1 for n in store.nodes() for e in n.evaluations
                          if e.finished_at is not None)
    finally:
        store.close()
    llm = [n for n in nodes if n.idea.proposer.startswith("llm:")]
    proposals = len(llm) + len(failed)
    by_node = collections.defaultdict(list)
    for c in calls:
        by_node[c.node_id].append(c)
    parsed = len(llm) + sum(1 for e in failed if _parsed_some(e["message"]))
    applied = [n for n in llm if n.workspace]
    audited = [n for n in applied if not any(f.blocking for f in n.findings)
               and not (n.reason or "").startswith("auditor")]
    started = [n for n in llm if n.evaluations]
    # a seed finished and no check of the run blocked it (a kernel's correctness check does)
    ran = [n for n in llm if any(e.status.value == "ok" for e in n.evaluations)
           and not any(f.blocking and f.seed is not None for f in n.findings)]
    accepted = [n for n in llm if n.status is NodeStatus.ACCEPTED]
    # ran, then stopped by the value function as doomed before a seed finished: not "ran ok",
    # and not a failure of the program either
    stopped = [n for n in started if n not in ran
               and all(e.status.value == "stopped" for e in n.evaluations)]
    crashed = [n for n in started if any(e.status.value == "failed" for e in n.evaluations)]
    # proposals the model wrote after it was given a library direction (recursor.proposer.llm
    # .directions): the idea was the library's, the patch the model's
    directed = [n for n in llm if "library's direction" in n.idea.reason]
    # an idea and its repairs (`repair of node N`) as one: did any of them run ok?
    ideas = len([n for n in llm if not n.idea.source.startswith(REPAIR_TAG)]) + len(failed)
    ideas_ok = len({min(repair_chain(n, llm)) for n in ran})
    rules = collections.Counter(a["rule"] for n in applied for a in n.applied)
    outcomes = collections.Counter(c.outcome for c in calls)
    return {
        "proposals": proposals, "parsed": parsed, "applied": len(applied),
        "audited": len(audited), "started": len(started), "ran": len(ran),
        "accepted": len(accepted), "ideas": ideas, "ideas_ok": ideas_ok,
        "accepted_titles": [n.title for n in accepted],
        "stopped": len(stopped), "crashed": len(crashed),
        "directed": len(directed), "directed_ran": len([n for n in ran if n in directed]),
        "own_accepted": [n.title for n in accepted if n not in directed],
        "rules": dict(rules), "outcomes": dict(outcomes),
        "repeats": outcomes["repeat"] + outcomes["duplicate"],
        "trials": outcomes["trial-failed"],
        "calls": len(calls), "tokens": sum(c.input_tokens + c.output_tokens for c in calls),
        "seconds": sum(c.seconds for c in calls), "hours": hours, "evaluations": evaluations,
    }


def _parsed_some(message: str) -> bool:
    # a failed proposal parsed if its last problem was not the answer's form
    return not any(word in message for word in ("no SEARCH/REPLACE block", "has no TITLE",
                                                "no PATCH", "cut off at the token limit"))


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "–"


def report(run_dirs: list[Path], args: argparse.Namespace) -> None:
    """The table of runs made earlier (`--report DIR ...`): an LLM run each."""
    print_table([{"task": d.name, "llm": measure(d), "dir": d} for d in run_dirs], args)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base-url", default="http://127.0.0.1:8088/v1")
    p.add_argument("--model", default="openai:local")
    p.add_argument("--max-tokens", type=int, default=1024)
    p.add_argument("--context-tokens", type=int, default=8192)
    p.add_argument("--tasks", nargs="+", default=list(TASKS))
    p.add_argument("--minutes", type=float, default=12)
    p.add_argument("--library-minutes", type=float, default=None)
    p.add_argument("--full-budget", action="store_true", help="tiny-lm at its own budget")
    p.add_argument("--process", type=Path, default=None,
                   help="a process file (docs/meta.md) for the model's runs: its [researcher] "
                        "table sets the brief's form, the ideas it lists and the personas")
    p.add_argument("--brief-history", type=int, default=None,
                   help="entries of what was tried that the brief lists (0: none)")
    p.add_argument("--out", type=Path, default=Path("runs/llm-local"))
    p.add_argument("--report", type=Path, nargs="+", help="only tabulate these LLM run folders")
    p.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = p.parse_args()
    if args.report:
        return report(args.report, args)
    os.environ.setdefault("OPENAI_API_KEY", "local")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    library_minutes = args.minutes if args.library_minutes is None else args.library_minutes
    rows = []
    for name in args.tasks:
        task = task_path(name, args.out)
        overrides = SMALL_LM if name == "tiny-lm" and not args.full_budget else {}
        llm_dir = research(task, args.out / f"{name}-llm-{stamp}", args.minutes, "llm", args,
                           overrides)
        row = {"task": name, "llm": measure(llm_dir), "dir": llm_dir}
        if library_minutes > 0:
            lib_dir = research(task, args.out / f"{name}-library-{stamp}", library_minutes,
                               "library", args, overrides)
            row["library"] = measure(lib_dir)
        rows.append(row)
        print_table(rows, args)


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    t = Table(title=f"A real model as researcher ({args.model} at {args.base_url}; "
                    f"{date.today()}, {platform.node()}, {os.cpu_count()} cores)")
    for col in ("task", "proposals", "parsed", "applied", "audit passed", "ran", "ran ok",
                "ideas ran ok", "accepted",
                "applier rules", "repeats", "trial caught", "calls/prop", "tokens/prop", "s/prop",
                "exp/h model", "exp/h library"):
        t.add_column(col, overflow="fold")
    for row in rows:
        m, n = row["llm"], row["llm"]["proposals"]
        lib = row.get("library")
        t.add_row(row["task"], str(n), share(m["parsed"], n), share(m["applied"], n),
                  share(m["audited"], n), share(m["started"], n), share(m["ran"], n),
                  share(m["ideas_ok"], m["ideas"]), share(m["accepted"], n),
                  ", ".join(f"{k} {v}" for k, v in sorted(m["rules"].items())) or "–",
                  str(m["repeats"]), str(m["trials"]), f"{m['calls'] / n:.1f}" if n else "–",
                  f"{m['tokens'] / n:.0f}" if n else "–", f"{m['seconds'] / n:.0f}" if n else "–",
                  f"{m['evaluations'] / m['hours']:.0f}" if m["hours"] else "–",
                  f"{lib['evaluations'] / lib['hours']:.0f}" if lib and lib["hours"] else "–")
    Console(width=200).print(t)
    if getattr(args, "markdown", False):
        print("\n| task | proposals | parsed | applied | ran | ran ok | ideas ran ok | accepted "
              "| applier rules | repeats | trial caught | s/proposal | exp/h model | exp/h library |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: "
              "| ---: | ---: |")
        for row in rows:
            m, n = row["llm"], row["llm"]["proposals"]
            lib = row.get("library")
            pct = {k: f"{100 * m[k] / n:.0f}%" if n else "–"
                   for k in ("parsed", "applied", "started", "ran", "accepted")}
            print(f"| {row['task']} | {n} | {pct['parsed']} | {pct['applied']} | "
                  f"{pct['started']} | {pct['ran']} | {share(m['ideas_ok'], m['ideas'])} | "
                  f"{m['accepted']} | "
                  + (", ".join(f"{k} {v}" for k, v in sorted(m["rules"].items())) or "–")
                  + f" | {m['repeats']} | {m['trials']} | {m['seconds'] / n:.0f} | "
                  f"{m['evaluations'] / m['hours']:.0f} | "
                  + (f"{lib['evaluations'] / lib['hours']:.0f}" if lib and lib["hours"] else "–")
                  + " |")
    for row in rows:
        m = row["llm"]
        print(f"{row['task']}: of the experiments started, {m['stopped']} stopped early by the "
              f"value function before a seed finished, {m['crashed']} failed")
        print(f"{row['task']}: run {row['dir']}; call outcomes {m['outcomes']}; accepted: "
              f"{m['accepted_titles'] or 'none'}; written after a library direction: "
              f"{m['directed']} ({m['directed_ran']} ran ok); accepted ideas of the model's "
              f"own: {m['own_accepted'] or 'none'}")


if __name__ == "__main__":
    main()
