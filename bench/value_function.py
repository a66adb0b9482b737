"""Early stopping on `tiny-lm`: with and without the value function, same wall-clock budget.

    python bench/value_function.py --minutes 25
    python bench/value_function.py --minutes 5 --set budget.train_tokens=200000   # a quick look
    python bench/value_function.py --minutes 40 --sweep    # a hyperparameter sweep's ideas
    python bench/value_function.py --minutes 40 --mature runs/demo   # from a run's best program

The two arms run side by side, one worker each, started together: both see the same machine
load for the same minutes, so their ratio holds on a noisy host. Same task, proposer, policy and
run seed; the only difference is `early_stop`. Prints per arm: candidates decided and decided
per hour, seed runs finished, runs stopped, false stops (audited would-be stops whose node was
then accepted), the forecasts' mean error and 90% interval coverage, and the best val_bpb.
With --sweep the task is a copy of tiny-lm whose idea library is a hyperparameter sweep (each
of learning rate, batch, width, depth, betas, weight decay, clipping moved to values around
and far from the baseline's, as a person sweeping a grid would) instead of the literature
ideas: most such points are clearly worse than the parent, the regime early stopping is for.
With --mature RUN the baseline is the best program of RUN, and the ideas are the literature's
that its lineage has not used and that still apply, the grid sweep, and a finer sweep around its
tuned values: research as a long run would find it, where most candidates lose.

The value function learns from the finished pairs of the run and of the earlier runs in
--runs-dir with the same overrides (the first invocation starts cold; the line after the table
says how many it had).

Then a replay on the curves of the arm without early stopping (every run went to its end, so
the truth is known for every one): the value function, fitted only on the pairs that had
finished before each run started, against Optuna's MedianPruner on the same curves: runs it
would stop, how many of those were better than their parent at the end (wrong) or belonged to an
accepted node (false stops), and the share of training time saved. Needs `pip install optuna`.
Then the test looks on the arm's confirmed nodes, and the screen looks (P(the screen and then
the test pass)) on all its nodes: given up, of them accepted in the end, seed runs saved. The
replays are in bench/value_replay.py.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import shutil
import signal
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from value_replay import futility_replay, replay, screen_replay

import recursor
from recursor.store import NodeStatus, RunStore, StoppedEarlyVerdict
from recursor.task import parse_override
from recursor.value import StopSettings

SWEEP = {  # name in train.py -> values a sweep would try (the baseline's value left out)
    "learning_rate": ["3e-5", "1e-4", "3e-4", "2e-3", "1e-2", "3e-2"],
    "batch_size": ["4", "8", "128"],
    "n_embd": ["16", "32", "128"],
    "n_layer": ["1", "2", "8"],
    "beta1": ["0.5", "0.99"],
    "beta2": ["0.9", "0.999"],
    "weight_decay": ["0.0", "1.0"],
    "grad_clip": ["0.01", "0.1"],
}


NEAR = (0.5, 0.7, 1.4, 2.0)  # factors a sweep around a tuned point tries, per float setting
NEAR_INT = (0.75, 1.5)  # and per size: the grid's halving and doubling are already there
SIZES = {"batch_size", "n_embd", "n_layer", "block_size"}
MOMENTA = {"beta1", "beta2", "muon_momentum"}  # moved through 1 - value: 0.95 -> 0.975, 0.9


def _setting(train: str, name: str) -> tuple[str, str] | None:
    """(its line, its value) for a `name = value` line of `train`, None when it has none."""
    line = next((x for x in train.splitlines() if x.startswith(f"{name} = ")), None)
    return None if line is None else (line, line.split("#")[0].split("=")[1].strip())


def near_points(train: str) -> dict[str, list[str]]:
    """Values around each tuned setting of `train`, as a person refining a sweep would try:
    sizes by a quarter and a half, learning rates, decay and clipping by 0.5-2x, momenta by
    0.5-2x on their distance from 1."""
    points: dict[str, list[str]] = {}
    for name in [*SWEEP, "block_size", "muon_lr", "muon_momentum"]:
        found = _setting(train, name)
        if found is None:
            continue
        old = float(found[1])
        if name in SIZES:
            values = {int(round(old * f)) for f in NEAR_INT}
            if name == "n_embd":  # attention splits the width into n_head heads
                heads = int(float(_setting(train, "n_head")[1]))
                values = {v // heads * heads for v in values}
            points[name] = [str(v) for v in sorted(values) if v >= 1]
        elif name in MOMENTA:
            points[name] = [f"{max(0.0, 1 - (1 - old) * f):.3g}" for f in NEAR]
        else:
            points[name] = [f"{old * f:.3g}" for f in NEAR]
    return points


def _write_sweep(ideas: Path, train: str, points: dict[str, list[str]]) -> None:
    """One idea per point, each a one-line patch of `train`; a point equal to the setting's
    value, or to one written before, is left out."""
    for name, values in points.items():
        line, old = _setting(train, name)
        written = {float(old)} | {float(f.stem.split("-", 1)[1])
                                  for f in ideas.glob(f"{name}-*.toml")}
        for value in values:
            if float(value) in written:
                continue
            written.add(float(value))
            new = line.replace(f"= {old}", f"= {value}", 1)
            (ideas / f"{name}-{value}.toml").write_text(
                f'title = "{name} = {value} (from {old})"\n'
                f'category = "hyperparameter"\n'
                f'hypothesis = "val_bpb changes when {name} moves from {old} to {value}."\n'
                f'rationale = "One point of a sweep over {name}."\n'
                f'source = "grid sweep"\n'
                f"patch = '''\ntrain.py\n<<<<<<< SEARCH\n{line}\n=======\n{new}\n"
                f">>>>>>> REPLACE\n'''\n")


def _task_copy(folder: Path, name: str) -> tuple[Path, Path]:
    """A copy of tiny-lm without its ideas: (its folder, the builtin's folder)."""
    from recursor.task.folder import builtin_tasks

    src = builtin_tasks()["tiny-lm"]
    task = folder / name
    if task.exists():
        shutil.rmtree(task)
    shutil.copytree(src, task, ignore=shutil.ignore_patterns("ideas", "__pycache__"))
    (task / "ideas").mkdir()
    return task, src


def sweep_task(folder: Path) -> Path:
    """tiny-lm with a hyperparameter sweep for its idea library."""
    task, src = _task_copy(folder, "tiny-lm-sweep")
    _write_sweep(task / "ideas", (src / "train.py").read_text(), SWEEP)
    return task


def mature_task(folder: Path, run_dir: Path) -> tuple[Path, str]:
    """tiny-lm as research left it in `run_dir`: the program of its best node for the baseline,
    and for ideas the literature ideas its lineage has not used that still apply, the grid sweep,
    and a finer sweep around the tuned values (`near_points`). Most candidates of a mature
    program lose or change nothing, the regime a long research run spends most of its time in."""
    from recursor import patch as patches
    from recursor.task.folder import load_task

    run = recursor.open_run(run_dir)
    best = run.report()["best"]
    nodes = {n.id: n for n in run.nodes()}
    files = run.files(best["node"])
    used = {nodes[i].title for i in best["lineage"] if not nodes[i].is_baseline}
    task, src = _task_copy(folder, "tiny-lm-mature")
    for rel, text in files.items():
        (task / rel).write_text(text)
    for idea in load_task(src).ideas:
        if idea.title in used:
            continue
        try:
            patches.apply(idea.patch, files)
        except Exception:  # written against the baseline; the tuned program moved on
            continue
        shutil.copy(src / "ideas" / f"{idea.key}.toml", task / "ideas")
    _write_sweep(task / "ideas", files["train.py"], SWEEP)
    _write_sweep(task / "ideas", files["train.py"], near_points(files["train.py"]))
    return task, f"best node {best['node']} of {run_dir} ({best['mean']:.4f}), {len(used)} ideas in"


def arm(task: str, run_dir: str, early: bool, minutes: float, overrides: dict,
        seed: int) -> None:
    # no discovery library: it would put the winners of earlier invocations first (and one arm
    # could read what the other just wrote), so the stream would not be the idea library's
    recursor.run(task, run_dir=run_dir, minutes=minutes, workers=1, seed=seed,
                 overrides=overrides, early_stop=early, discoveries=False)


def arm_row(name: str, run_dir: Path) -> list[str]:
    run = recursor.open_run(run_dir)
    rep = run.report()
    e, v, c = rep["engine"], rep["value"], rep["counts"]
    false = (f"{v['audited_accepted']}/{v['audited']}" if v.get("enabled") and v["audited"]
             else "–")
    mae = (f"{v['mean_abs_error']:.4f} / {v['coverage90']:.0%}"
           if v.get("mean_abs_error") is not None else "–")
    best = rep["best"]["mean"] if rep["best"] else None
    return [name, str(e["decided"]), f"{e['decided_per_hour']:.1f}",
            str(e["experiments_finished"]), str(c["stopped_early"]), false, mae,
            f"{best:.4f}" if best is not None else "–", f"{e['overhead_fraction']:.1%}"]


def stops_line(run) -> str:
    """How the arm's nodes were stopped: a seed's curve, a confirmation run's futility, or
    futility between confirmation pairs; and at what share of the run that stopped them."""
    kinds: dict[str, list[float]] = {"per-seed": [], "futility in a screen": [],
                                     "futility in a run": [], "futility between pairs": []}
    for n in run.nodes():
        v = n.verdict
        if n.status is not NodeStatus.STOPPED_EARLY or not isinstance(v, StoppedEarlyVerdict):
            continue
        kind = ("futility between pairs" if v.pairs_ended else
                "futility in a screen" if v.during == "screen" else
                "futility in a run" if v.scope == "confirm" else "per-seed")
        kinds[kind].append(v.progress)
    parts = [f"{len(p)} {k}" + (f" (at {min(p):.0%}-{max(p):.0%})" if p and k != "futility "
                                 "between pairs" else "") for k, p in kinds.items()]
    return "stops: " + ", ".join(parts)


def same_work(full_dir: Path, early_dir: Path) -> str:
    """The two arms grow the same tree until they decide a node differently: the time each took
    to decide that common part (from the baseline's verdict to the last common candidate's) is
    throughput on the same work. Decided per hour at the budget mixes in what each arm did with
    the time left: the faster arm goes on to candidates the other never reaches, and a winner
    among them costs 6-8 runs, which no stop may cut."""
    arms = []
    for d in (full_dir, early_dir):
        store = RunStore.open(d, readonly=True)
        arms.append(sorted(store.nodes(), key=lambda n: n.id))
        store.close()
    full, early = arms

    def key(n):
        return n.idea.title if n.idea else "", n.parent_id, n.status is NodeStatus.ACCEPTED

    common, first_win = 0, None
    for a, b in zip(full[1:], early[1:], strict=False):
        if key(a) != key(b) or a.decided_at is None or b.decided_at is None:
            break
        common += 1
        if first_win is None and a.status is NodeStatus.ACCEPTED:
            first_win = common - 1  # candidates decided before the first accepted step
    if not common:
        return "same work: the arms' first candidates differ"

    def span(nodes, n):
        return (nodes[n].decided_at - nodes[0].decided_at) / 60

    text = (f"same work: the first {common} candidates (same ideas on the same parents, same "
            f"verdicts of accept) took {span(full, common):.1f} min without and "
            f"{span(early, common):.1f} min with early stopping: "
            f"{span(full, common) / span(early, common):.2f}x")
    if first_win:
        text += (f" ({first_win} before the first accepted step: "
                 f"{span(full, first_win) / span(early, first_win):.2f}x)")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--minutes", type=float, default=25, help="wall-clock budget per arm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--risk", type=float, default=0.02, help="the replay's stop level")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="task.toml override, e.g. --set budget.train_tokens=200000")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench-value"))
    parser.add_argument("--sweep", action="store_true",
                        help="ideas from a hyperparameter sweep instead of the literature")
    parser.add_argument("--mature", type=Path, default=None, metavar="RUN",
                        help="start from the best node of RUN (ideas: the literature's unused "
                             "ones, the grid sweep and a finer sweep around its values)")
    parser.add_argument("--replay", type=Path, default=None,
                        help="only replay the curves of this finished run (no new runs)")
    parser.add_argument("--early", type=Path, default=None, metavar="RUN",
                        help="with --replay: the arm with early stopping beside it, for the "
                             "same-work line")
    args = parser.parse_args()
    overrides = dict(parse_override(o) for o in args.overrides)
    console = Console() if Console().is_terminal else Console(width=160)
    console.print(f"{time.strftime('%Y-%m-%d %H:%M')} · {platform.node()} · "
                  f"{mp.cpu_count()} cores · {platform.processor() or platform.machine()}")

    if args.replay is None:
        # the arms sit beside the earlier runs of this bench: the value function of the arm
        # with early stopping learns from their finished pairs, as a user's next run would
        stamp = time.strftime("%Y%m%d-%H%M%S")
        task = "tiny-lm"
        if args.sweep:
            task = str(sweep_task(args.runs_dir))
            args.runs_dir = args.runs_dir / "sweep"
        elif args.mature:
            # beside the runs it grew from: the value function learns from their pairs
            folder, what = mature_task(args.runs_dir / "tasks", args.mature)
            task = str(folder)
            console.print(f"mature start: {what}; {len(list((folder / 'ideas').glob('*.toml')))}"
                          " ideas")
        dirs = {"without early stopping": args.runs_dir / f"{stamp}-full",
                "with early stopping": args.runs_dir / f"{stamp}-early"}
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=arm, args=(task, str(d), name.startswith("with "),
                                                args.minutes, overrides, args.seed))
                 for name, d in dirs.items()]
        for p in procs:
            p.start()

        def stop_arms(signum, frame):
            # the arms are processes of their own: a bench stopped with SIGTERM (a timeout, a
            # job scheduler) stops them too, rather than leaving them to run their budget out
            for p in procs:
                p.terminate()
            for p in procs:
                p.join()
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, stop_arms)
        for p in procs:
            p.join()
        table = Table(title=f"{Path(task).name}, {args.minutes:g} min each, side by side, 1 worker each",
                      header_style="bold")
        for col in ("arm", "decided", "decided/hour", "seed runs", "stopped", "false stops",
                    "forecast error / 90% cover", "best val_bpb", "engine overhead"):
            table.add_column(col)
        rows = [arm_row(name, d) for name, d in dirs.items()]
        for row in rows:
            table.add_row(*row)
        console.print(table)
        ratio = float(rows[1][2]) / float(rows[0][2]) if float(rows[0][2]) else float("nan")
        console.print(f"decided per hour, with / without early stopping: {ratio:.2f}x")
        full, exclude = dirs["without early stopping"], list(dirs.values())
        early = recursor.open_run(dirs["with early stopping"])
        console.print(next(e["message"] for e in early.events() if e["kind"] == "value"))
        console.print(stops_line(early))
        console.print(same_work(full, dirs["with early stopping"]))
    else:
        full, exclude = args.replay, [args.replay]
        if args.early is not None:
            console.print(same_work(full, args.early))

    table = Table(title=f"replay on the curves of {full}", header_style="bold")
    for col in ("rule", "stopped", "ended better than parent", "of an accepted node",
                "false-stop rate", "training saved"):
        table.add_column(col)
    for row in replay(full, args.risk, exclude):
        table.add_row(*row)
    console.print(table)
    table = Table(title=f"test-futility replay on the confirmed nodes of {full}",
                  header_style="bold")
    for col in ("rule", "stopped", "where", "whose test passed / accepted in the end",
                "fresh runs saved"):
        table.add_column(col)
    table.add_row(*futility_replay(full, StopSettings().test_risk))
    console.print(table)
    table = Table(title=f"screen-look replay on the nodes of {full}", header_style="bold")
    for col in ("rule", "given up in their screen", "accepted in the end (false stops)",
                "seed runs saved", "same runs, sooner"):
        table.add_column(col)
    table.add_row(*screen_replay(full, StopSettings().test_risk, exclude))
    console.print(table)


if __name__ == "__main__":
    main()
