"""The replays of `bench/value_function.py`: stop rules run on the curves of a finished run.

Every run of an arm without early stopping went to its end, so the truth is known for each;
a rule is replayed on those curves as the loop would have looked at them (a forecast fitted
only on the pairs finished before the run started) and scored: what it would have stopped,
how many of those were better than their parent at the end or belonged to an accepted node,
and what it would have saved.

    python bench/value_function.py --replay runs/bench-value/<stamp>-full
"""

from __future__ import annotations

from pathlib import Path

from scipy import stats

from recursor.loop.stopping import MIN_NOISE_DF
from recursor.store import ConfirmVerdict, NodeStatus, RunStore
from recursor.value import Curve, Pair, PairedCurveModel, StopRule, StopSettings
from recursor.value.curves import GRID, schedule_departs
from recursor.value.futility import confirm_forecast, effect_spread, screen_forecast
from recursor.value.history import earlier_pairs, program_key, run_pairs
from recursor.value.stopper import Streaks


def _runs(store: RunStore, metric: str, key: str):
    """Candidate runs with their parent's run on the same seed, in the order they started."""
    nodes = store.nodes()
    by_eval = {e.id: (n, e) for n in nodes for e in n.evaluations}
    out = []
    for cand, ref, diff, _ in run_pairs(nodes, metric):
        node, ev = by_eval[cand]
        points, ref_points = store.curve(cand), store.curve(ref)
        out.append(dict(node=node, ev=ev, ref=by_eval[ref][1], diff=diff,
                        curve=Curve.from_points(points, key),
                        ref_curve=Curve.from_points(ref_points, key),
                        lr=Curve.from_points(points, "lr"),
                        ref_lr=Curve.from_points(ref_points, "lr")))
    return sorted(out, key=lambda r: r["ev"].started_at)


def replay(run_dir: Path, risk: float, exclude: list[Path]) -> list[list[str]]:
    store = RunStore.open(run_dir)
    runs = _runs(store, "val_bpb", "train_loss")
    config = store.meta()["config"]
    # what the arm with early stopping saw too: the earlier runs beside it
    history = earlier_pairs(run_dir, "tiny-lm", config["overrides"], "val_bpb", "train_loss",
                            exclude)
    rule = StopRule(StopSettings(risk=risk, audit=0.0), minimize=True)
    # as in the loop: pairs grouped by program, a forecast never fitted on its own program's
    programs = {n.id: program_key(store.path(n.workspace)) or n.id for n in store.nodes()}
    # as in the loop: the per-seed rule looks at screens only (a node's first run); its
    # confirmation runs answer to its test (futility_replay below)
    screens = {min((e for e in n.evaluations if e.evaluation == "val_bpb"),
                   key=lambda e: e.started_at).id for n in store.nodes() if n.evaluations}
    ours = []
    for r in runs:
        if r["ev"].id not in screens:
            ours.append(None)
            continue
        done = history + [Pair(o["curve"], o["ref_curve"], o["diff"], programs[o["node"].id])
                          for o in runs if o["ev"].finished_at < r["ev"].started_at]
        model = PairedCurveModel(done)
        stop_at, streaks, last = None, Streaks(), 0.0
        for f in GRID:
            if schedule_departs(r["lr"], r["ref_lr"], f):
                break  # as in the loop: another schedule is never stopped on its curve
            cut = r["curve"].progress <= f + 1e-9
            forecast = model.forecast(Curve(r["curve"].progress[cut], r["curve"].values[cut]),
                                      r["ref_curve"], programs[r["node"].id])
            if forecast is None or forecast.progress <= last:
                continue  # a sparse curve: read at this point already, as the loop does
            last = forecast.progress
            streak = streaks.add(r["ev"].id, rule.p_better(forecast), risk)
            if rule.decide(forecast, r["ev"].id, risk, streak) == "stop":
                stop_at = forecast.progress
                break
        ours.append(stop_at)
    rows = [_replay_row(f"value function (risk {risk:g})", runs, ours)]
    try:
        rows.append(_replay_row("Optuna MedianPruner", runs, _median_pruner(runs)))
    except ImportError:
        rows.append(["Optuna MedianPruner", "optuna not installed", "", "", "", ""])
    store.close()
    return rows


def futility_replay(run_dir: Path, level: float) -> list[str]:
    c = futility_counts(run_dir, level)
    stopped = c["at_screen"] + c["between"]
    return [f"test looks (level {level:g}, learned prior)", f"{stopped}/{c['looked']} nodes",
            f"{c['at_screen']} at the screen, {c['between']} between pairs",
            f"{c['false']}" + (f" ({c['false'] / stopped:.0%})" if stopped else "")
            + f" / {c['lost']}",
            f"{c['saved']}/{c['runs']}" + (f" ({c['saved'] / c['runs']:.0%})" if c["runs"] else "")]


def futility_counts(run_dir: Path, level: float) -> dict[str, int]:
    """The test looks (at the screen, after the first fresh pair) on the full arm's confirmed
    nodes, in order, with the prior learned from the fresh pairs ended so far; each node's
    noise and bar as its verdict recorded them (tiny-lm's min_effect is 0). A stop that gives
    up a node whose test passed is a false stop, unless the auditor then rejected the node: it
    would not have been accepted either (both are counted)."""
    store = RunStore.open(run_dir)
    nodes = {n.id: n for n in store.nodes()}
    seen: list[list[float]] = []
    looked = at_screen = between = saved = false = lost = runs = 0
    for node in sorted(nodes.values(), key=lambda n: n.id):
        v = node.verdict
        if node.is_baseline or not isinstance(v, ConfirmVerdict):
            continue
        mine, theirs = node.values("val_bpb"), nodes[v.parent].values("val_bpb")
        fresh = [theirs[s] - mine[s] for s in v.seeds if s in mine and s in theirs]
        n = len(v.seeds)
        if len(fresh) < n:
            continue
        bar = float(stats.t.isf(v.alpha, v.df)) * v.sigma / n ** 0.5
        looked += 1
        runs += 2 * n
        ended = n
        # as in the loop: no test look on so young a noise; a screen beyond the bar runs on
        if v.df >= MIN_NOISE_DF and v.screen_gain < bar:
            tau = effect_spread(seen, v.sigma)
            for j in range(n):
                cf = confirm_forecast(v.screen_gain, fresh[:j], [], n - j, v.sigma, bar,
                                      minimize=True, df=v.df, prior_sd=tau)
                if cf is not None and cf.p_pass < level:
                    ended = j
                    break
        seen.append(fresh[:ended])
        if ended < n:
            at_screen += ended == 0
            between += ended > 0
            saved += 2 * (n - ended)
            false += bool(v.passed)
            lost += node.status is NodeStatus.ACCEPTED
    store.close()
    return {"looked": looked, "at_screen": at_screen, "between": between, "saved": saved,
            "false": false, "lost": lost, "runs": runs}


def screen_replay(run_dir: Path, level: float, exclude: list[Path]) -> list[str]:
    c = screen_counts(run_dir, level, exclude)
    stopped, saved, total = c["stopped"], c["saved"], c["total"]
    return [f"screen looks (level {level:g})", f"{stopped}/{c['looked']} nodes",
            f"{c['false']} of {c['accepted']}"
            + (f" ({c['false'] / stopped:.0%} of stops)" if stopped else ""),
            f"{saved:.1f}/{total}" + (f" ({saved / total:.0%})" if total else ""),
            f"{total / (total - saved):.2f}x" if total > saved else "–"]


def screen_counts(run_dir: Path, level: float, exclude: list[Path]) -> dict[str, float]:
    """The screen looks on the full arm's nodes, in order: at each progress point of a node's
    screen, P(its screen passes and then its test does) (screen_forecast), from the value
    function fitted on the pairs finished before the screen started, the run's noise as the
    last verdict before the node recorded it, and the prior from the fresh pairs of the nodes
    before it. A node given up below `level` saves the rest of its screen and every later run
    of its own or of its parent on its fresh seeds; a false stop is one the judge accepted,
    and saves nothing (what its loss costs the run is not a number of runs). The runs of the
    baseline and of accepted nodes count in the arm's total."""
    store = RunStore.open(run_dir)
    nodes = {n.id: n for n in store.nodes()}
    runs = _runs(store, "val_bpb", "train_loss")
    history = earlier_pairs(run_dir, "tiny-lm", store.meta()["config"]["overrides"], "val_bpb",
                            "train_loss", exclude)
    programs = {n.id: program_key(store.path(n.workspace)) or n.id for n in nodes.values()}
    verdicts = sorted((n.id, n.verdict) for n in nodes.values()
                      if isinstance(n.verdict, ConfirmVerdict))
    first = {min((e for e in n.evaluations if e.evaluation == "val_bpb"),
                 key=lambda e: e.started_at).id: n for n in nodes.values()
             if n.evaluations and not n.is_baseline}
    total = sum(1 for n in nodes.values() for e in n.evaluations if e.evaluation == "val_bpb")
    looked = stopped = false = accepted = 0
    rule = StopRule(StopSettings(audit=0.0), minimize=True)
    saved = 0.0
    for r in runs:
        node = first.get(r["ev"].id)
        if node is None or not verdicts:
            continue
        looked += 1
        accepted += node.status is NodeStatus.ACCEPTED
        v = ([v for i, v in verdicts if i < node.id] or [verdicts[0][1]])[-1]
        if v.df < MIN_NOISE_DF:  # as in the loop: no test look on so young a noise
            continue
        bar = float(stats.t.isf(v.alpha, v.df)) * v.sigma / len(v.seeds) ** 0.5
        seen = []
        for i, w in verdicts:
            if i >= node.id:
                break  # sorted by node
            mine, theirs = nodes[i].values("val_bpb"), nodes[w.parent].values("val_bpb")
            seen.append([theirs[s] - mine[s] for s in w.seeds if s in mine and s in theirs])
        tau = effect_spread(seen, v.sigma)
        model = PairedCurveModel(history + [
            Pair(o["curve"], o["ref_curve"], o["diff"], programs[o["node"].id])
            for o in runs if o["ev"].finished_at < r["ev"].started_at])
        streaks, last = Streaks(), 0.0  # as in the loop: a second look below the level stops
        for f in GRID:
            if schedule_departs(r["lr"], r["ref_lr"], f):
                break  # as in the loop: another schedule is never stopped on its curve
            cut = r["curve"].progress <= f + 1e-9
            forecast = model.forecast(Curve(r["curve"].progress[cut], r["curve"].values[cut]),
                                      r["ref_curve"], programs[node.id])
            if forecast is None or forecast.progress <= last:
                continue  # a sparse curve: read at this point already, as the loop does
            last = forecast.progress
            look = (screen_forecast(forecast, len(v.seeds), v.sigma, bar, True, v.df,
                                    tau) if -forecast.mean < bar else None)
            p = look.p_pass if look is not None else 1.0
            streak = streaks.add(node.id, p, level)
            if rule.decide_on(p, f, r["ev"].id, level, streak) == "stop":
                stopped += 1
                if node.status is NodeStatus.ACCEPTED:  # a loss, not a saving
                    false += 1
                    break
                fresh = set(node.verdict.seeds if isinstance(node.verdict, ConfirmVerdict)
                            else ())
                parent = nodes.get(node.parent_id)
                later = sum(1 for e in node.evaluations if e.evaluation == "val_bpb") - 1
                later += sum(1 for e in parent.evaluations if e.seed in fresh) if parent else 0
                saved += (1 - forecast.progress) + later
                break
    store.close()
    return {"looked": looked, "stopped": stopped, "false": false, "accepted": accepted,
            "saved": saved, "total": total}


def _median_pruner(runs) -> list[float | None]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # its defaults: 5 startup trials, no warm-up steps; the steps are the same progress points
    study = optuna.create_study(direction="minimize", pruner=optuna.pruners.MedianPruner())
    out = []
    for r in runs:
        trial, stop_at = study.ask(), None
        for i, f in enumerate(GRID):
            value = r["curve"].at(f)
            if value is None:
                continue
            trial.report(value, i)
            if trial.should_prune():
                stop_at = f
                break
        if stop_at is None:
            study.tell(trial, r["ev"].value)
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        out.append(stop_at)
    return out


def _replay_row(name: str, runs, stops: list[float | None]) -> list[str]:
    stopped = [(r, f) for r, f in zip(runs, stops, strict=True) if f is not None]
    wrong = sum(1 for r, _ in stopped if r["diff"] < 0)
    false = sum(1 for r, _ in stopped if r["node"].status is NodeStatus.ACCEPTED)
    saved = sum(1 - f for _, f in stopped) / max(1, len(runs))
    return [name, f"{len(stopped)}/{len(runs)}", str(wrong), str(false),
            f"{false / len(stopped):.0%}" if stopped else "–", f"{saved:.0%}"]
