"""A run of tiny-lm written straight into a store: one node of every kind the report's tables
must tell apart, with the numbers of the report that confused a new user.

No experiment runs: the nodes, their per-seed metrics, verdicts and findings are stored as the
loop stores them (the reasons are the loop's own wording), so the tests that read it are fast.
Metric val_bpb, lower is better; task seeds 1-4 (seed 1 is the screen), two fresh pairs.

    node  parent  what                                               the table must say
    1     -       baseline, 3.50 on every seed
    2     1       accepted, 3.325 (+5.00% vs the baseline)           accepted
    3     2       screen 3.2616 (+6.81% vs baseline), test fails,    not better
                  and the auditor's seed-consistency also flagged it
    4     2       screen 3.3824: worse than 2, better than baseline  not better, screen only
    5     2       a plain null result (a verdict without `passed`)   not better
    6     2       passed its test, then blocked by fresh-data        auditor: fresh-data
    7     2       stopped at half its screen                         stopped early
    8     2       crashed on its screen seed                         failed: crashed
    9     2       killed at the time limit                           failed: timed out
    10    2       its patch did not apply                            failed: did not apply
    11    2       the static check refused it before it ran          auditor: static.network
    12    2       the same program as node 2                         duplicate (not run)
    13    2       stopped after one of its two fresh pairs           stopped early, 1 pair
    14    2       still running, one fresh pair in                   running, 1 pair so far
"""

from __future__ import annotations

import time
from pathlib import Path

from recursor.loop.setup import create_run
from recursor.settings import RunConfig
from recursor.store import (
    BaselineVerdict,
    ConfirmVerdict,
    Finding,
    Idea,
    NodeStatus,
    RunStore,
    ScreenVerdict,
    StoppedEarlyVerdict,
)

METRIC = "val_bpb"
FRESH = {2: (1000201, 1000202), 3: (1000301, 1000302), 5: (1000501, 1000502),
         6: (1000601, 1000602), 13: (1001301, 1001302), 14: (1001401, 1001402)}


def _ok(store: RunStore, node: int, seed: int, value: float, seconds: float = 70.0) -> None:
    ev = store.start_evaluation(node, seed, METRIC)
    store.finish_evaluation(ev.id, ok=True, value=value, metrics={METRIC: value}, reason=None,
                            seconds=seconds)


def _failed(store: RunStore, node: int, seed: int, reason: str, seconds: float) -> None:
    ev = store.start_evaluation(node, seed, METRIC)
    store.finish_evaluation(ev.id, ok=False, value=None, metrics={}, reason=reason,
                            seconds=seconds)


def _child(store: RunStore, files: dict[str, str], title: str, parent: int = 2,
           **kw) -> int:
    idea = Idea(title, hypothesis=f"{title} helps", proposer="library", category="other")
    return store.add_node(parent, idea, files, "patch", "--- a/train.py\n+++ b/train.py\n",
                          **kw).id


def _confirm(parent: int, node: int, effect: float, p: float, passed: bool | None,
             parent_mean: float = 3.325) -> ConfirmVerdict:
    pct = 100 * effect / parent_mean
    return ConfirmVerdict(parent=parent, screen_gain=0.06, seeds=FRESH[node], effect=effect,
                          ci95=(effect - 0.02, effect + 0.02), effect_pct=pct,
                          ci95_pct=(pct - 0.6, pct + 0.6), p_value=p, alpha=0.02, sigma=0.01,
                          df=6, passed=passed)


def make_run(run_dir: Path) -> Path:
    """Write the run described above into `run_dir` (a new folder); returns it."""
    store = create_run("tiny-lm", RunConfig(experiments=13, discoveries=False, heldout=False),
                       run_dir)
    try:
        _fill(store)
    finally:
        store.close()
    return run_dir


def _fill(store: RunStore) -> None:
    from recursor.loop.snapshot import run_task_snapshot

    files = run_task_snapshot(store).program_files()
    base = store.add_node(None, None, files).id
    for seed, v in zip((1, 2, 3, 4), (3.50, 3.51, 3.49, 3.50), strict=True):
        _ok(store, base, seed, v)
    for seed in FRESH[2]:  # the fresh pairs of node 2's test
        _ok(store, base, seed, 3.50)
    store.decide(base, NodeStatus.ACCEPTED, "baseline: 3.5000 ± 0.0082 over 4 seeds",
                 BaselineVerdict(3.5, 0.0082, 4))

    # 2: the accepted best, 5% better than the baseline on every seed
    best = _child(store, files, "Accepted best", parent=base)
    for seed in (1, *FRESH[2], 2, 3, 4):
        _ok(store, best, seed, 3.325)
    store.decide(best, NodeStatus.ACCEPTED,
                 "better beyond noise: +0.175 vs node 1 on 2 fresh seed pairs",
                 _confirm(base, 2, 0.175, 0.004, True, parent_mean=3.5))
    for seed in (*FRESH[3], *FRESH[5], *FRESH[6], FRESH[13][0], FRESH[14][0]):
        _ok(store, best, seed, 3.325)

    # 3: its screening seed beats the best; its test does not pass; the auditor flagged it too
    lucky = _child(store, files, "Lucky screen")
    _ok(store, lucky, 1, 3.2616)
    for seed in FRESH[3]:
        _ok(store, lucky, seed, 3.335)
    flag = Finding("seed-consistency", True,
                   "better than node 2 on the screening seed but on only 0 of 2 other seeds: "
                   "the gain does not hold across seeds", "paired gains by seed", lucky)
    store.add_findings(lucky, [flag])
    store.decide(lucky, NodeStatus.REJECTED,
                 f"auditor: seed-consistency: {flag.message}; judge: not proven better "
                 "(p >= 0.02): -0.01 vs node 2 on 2 fresh seed pairs, p=0.61",
                 _confirm(best, 3, -0.01, 0.61, False))

    # 4: worse than its parent, better than the baseline, on its one screening seed
    worse = _child(store, files, "Worse than its parent")
    _ok(store, worse, 1, 3.3824)
    store.decide(worse, NodeStatus.REJECTED,
                 "screen: not better than node 2 on seed 1 (-0.0574)",
                 ScreenVerdict(best, -0.0574))

    # 5: a null result as a recursor that did not record `passed` stored it
    null = _child(store, files, "Plain null result")
    _ok(store, null, 1, 3.30)
    for seed, v in zip(FRESH[5], (3.3225, 3.3225), strict=True):
        _ok(store, null, seed, v)
    store.decide(null, NodeStatus.REJECTED,
                 "not proven better (p >= 0.02): +0.0025 vs node 2 on 2 fresh seed pairs",
                 _confirm(best, 5, 0.0025, 0.9, None))

    # 6: the judge's test passed; the auditor's fresh-data check blocked it
    blocked = _child(store, files, "Tuned to the test windows")
    _ok(store, blocked, 1, 3.20)
    for seed in FRESH[6]:
        _ok(store, blocked, seed, 3.1525)
    found = Finding("fresh-data", True,
                    "the gain on the scored windows mostly vanishes on fresh windows",
                    "scored +0.17, fresh +0.01", blocked)
    store.add_findings(blocked, [found])
    store.decide(blocked, NodeStatus.REJECTED, f"auditor: fresh-data: {found.message}",
                 _confirm(best, 6, 0.1725, 0.003, True))

    # 7: stopped by the value function halfway through its screen
    stopped = _child(store, files, "Stopped halfway")
    ev = store.start_evaluation(stopped, 1, METRIC)
    store.finish_evaluation(ev.id, ok=False, value=None, metrics={}, reason="stopped early",
                            seconds=35.0, stopped=True)
    store.decide(stopped, NodeStatus.STOPPED_EARLY,
                 "stopped early: forecast no better than node 2 (P(better) 0.004 < 0.02)",
                 StoppedEarlyVerdict(scope="seed", parent=best, evaluation=ev.id, progress=0.5,
                                     step=100, predicted_difference=0.05,
                                     interval90=(0.02, 0.08), risk=0.02, pairs=5,
                                     p_better=0.004))

    # 8 and 9: a crash, and a run killed at the task's time limit (300 s)
    crash = _child(store, files, "Crashes")
    why = "the harness exited with code 1 without a result: RuntimeError: boom"
    _failed(store, crash, 1, why, 4.0)
    store.decide(crash, NodeStatus.FAILED, f"seed 1: {why}")
    slow = _child(store, files, "Too slow")
    why = "experiment exceeded the time limit of 300 s and was killed with everything it started"
    _failed(store, slow, 1, why, 300.4)
    store.decide(slow, NodeStatus.FAILED, f"seed 1: {why}")

    # 10, 11, 12: never ran
    _child(store, None, "Does not apply", status=NodeStatus.FAILED,
           reason="patch does not apply: block 1: SEARCH text not found in train.py")
    net = Finding("static.network", True, "the program opens a network connection",
                  "import socket")
    refused = _child(store, files, "Phones home", status=NodeStatus.REJECTED,
                     reason=f"auditor: static.network: {net.message}")
    store.add_findings(refused, [net])
    _child(store, files, "Same as node 2", status=NodeStatus.REJECTED,
           reason="duplicate: the same program as node 2, which the run holds already; "
                  "not run again")

    # 13: its test forecast to fail after one of its two fresh pairs had ended
    futile = _child(store, files, "Stopped in confirmation")
    _ok(store, futile, 1, 3.30)
    _ok(store, futile, FRESH[13][0], 3.3283)
    store.decide(futile, NodeStatus.STOPPED_EARLY,
                 "stopped early: its paired test forecast to fail (P(passes) 0.01 < 0.1)",
                 StoppedEarlyVerdict(scope="confirm", parent=best, evaluation=1, progress=1.0,
                                     step=None, predicted_difference=0.003,
                                     interval90=(-0.01, 0.02), risk=0.1, pairs=1, p_pass=0.01,
                                     bar=0.04, effect_spread=None, pairs_ended=(1, 2)))
    # 14: still running: its screen and one fresh pair are in
    going = _child(store, files, "Still running")
    _ok(store, going, 1, 3.31)
    _ok(store, going, FRESH[14][0], 3.30)
    store.set_meta("finished_at", time.time())
    store.set_meta("end_reason", "budget")


# what a person must read in every view, node by node: (effect against the parent, why)
EXPECTED = {
    1: ("", "baseline"),
    2: ("+5.00% vs #1 (2 pairs)", "accepted"),
    3: ("-0.30% vs #2 (2 pairs)", "not better"),
    4: ("-1.73% vs #2 (screen only, 1 seed)", "not better"),
    5: ("+0.08% vs #2 (2 pairs)", "not better"),
    6: ("+5.19% vs #2 (2 pairs)", "auditor: fresh-data"),
    7: ("-1.50% vs #2 (forecast at 50%)", "stopped early"),
    8: ("no value", "failed: crashed"),
    9: ("no value", "failed: timed out"),
    10: ("no value", "failed: did not apply"),
    11: ("no value", "auditor: static.network"),
    12: ("no value", "duplicate (not run)"),
    13: ("-0.10% vs #2 (1 pair, not tested)", "stopped early"),
    14: ("+0.75% vs #2 (1 pair so far)", "running"),
}
