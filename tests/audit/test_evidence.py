"""The checks across seeds, fresh windows and held-out data, on what a harness reports.

The numbers are the kind the tiny-lm harness reports (val_bpb, `audit.fresh`, the held-out
wikitext2_bpb); they go through the real store, so the checks read them as the loop does, and
the report built from that store is the one a user reads.
"""

from __future__ import annotations

import pytest

from recursor.audit import evidence
from recursor.judge import Judge, JudgeConfig
from recursor.report.render import markdown_report
from recursor.store import Idea, NodeStatus, RunStore

METRIC, HELD = "val_bpb", "wikitext2_bpb"
SEEDS = (1, 2, 3, 4)
JUDGE = Judge(METRIC, True, SEEDS, JudgeConfig())


@pytest.fixture
def store(tmp_path):
    s = RunStore.create(tmp_path / "run", {"task": "tiny-lm"})
    yield s
    s.close()


def record(store, node, evaluation, values, fresh=None):
    for seed, value in values.items():
        ev = store.start_evaluation(node.id, seed, evaluation)
        metrics = {evaluation: value}
        if fresh is not None:
            metrics["audit"] = {"fresh": fresh[seed]}
        store.finish_evaluation(ev.id, ok=True, value=value, metrics=metrics, reason=None,
                                seconds=1.0)
    return store.node(node.id)


def pair(store, parent_values, child_values, parent_fresh=None, child_fresh=None):
    base = store.add_node(None, None, {"train.py": "a\n"})
    child = store.add_node(base.id, Idea(title="child", key="child", proposer="library"),
                           {"train.py": "b\n"}, "patch", "diff")
    base = record(store, base, METRIC, parent_values, parent_fresh)
    child = record(store, child, METRIC, child_values, child_fresh)
    return base, child


def test_a_win_on_the_screening_seed_only_is_blocked(store):
    base, child = pair(store, {1: 3.50, 2: 3.48, 3: 3.47, 4: 3.49},
                       {1: 3.40, 2: 3.52, 3: 3.51, 4: 3.50})
    [finding] = evidence.seed_consistency(child, base, JUDGE)
    assert finding.check == "seed-consistency" and finding.blocking
    assert "on only 0 of 3 other seeds" in finding.message
    assert "2: -0.04" in finding.evidence  # the per-seed gains a reviewer can check


def test_a_screen_win_within_the_noise_is_luck_not_a_seed_trick(store):
    # a change that does nothing wins its screen by luck half the time, then loses elsewhere
    base, child = pair(store, {1: 3.50, 2: 3.48, 3: 3.47, 4: 3.49},
                       {1: 3.49, 2: 3.49, 3: 3.48, 4: 3.50})
    assert evidence.seed_consistency(child, base, JUDGE) != []  # with no noise to go by
    assert evidence.seed_consistency(child, base, JUDGE, sigma=0.01) == []
    # a screen win far beyond the noise that no other seed repeats is named, noise or not
    base, child = pair(store, {1: 3.50, 2: 3.48, 3: 3.47, 4: 3.49},
                       {1: 3.30, 2: 3.52, 3: 3.51, 4: 3.50})
    assert [f.check for f in evidence.seed_consistency(child, base, JUDGE, sigma=0.01)] == [
        "seed-consistency"]


def test_a_win_that_holds_on_most_seeds_passes(store):
    base, child = pair(store, {1: 3.50, 2: 3.48, 3: 3.47, 4: 3.49},
                       {1: 3.40, 2: 3.45, 3: 3.48, 4: 3.44})
    assert evidence.seed_consistency(child, base, JUDGE) == []


def test_a_gain_that_vanishes_on_fresh_windows_is_blocked(store):
    # scored windows 0.3 better, fresh windows of the same text no better: memorised
    base, child = pair(store, {1: 3.50, 2: 3.48}, {1: 3.20, 2: 3.18},
                       parent_fresh={1: 3.51, 2: 3.49}, child_fresh={1: 3.52, 2: 3.48})
    [finding] = evidence.fresh_data(child, base, JUDGE, (1, 2))
    assert finding.check == "fresh-data" and finding.blocking
    assert "scored +0.30000, fresh +0.00000" in finding.evidence


def test_a_gain_that_survives_on_fresh_windows_passes(store):
    base, child = pair(store, {1: 3.50, 2: 3.48}, {1: 3.20, 2: 3.18},
                       parent_fresh={1: 3.51, 2: 3.49}, child_fresh={1: 3.25, 2: 3.22})
    assert evidence.fresh_data(child, base, JUDGE, (1, 2)) == []


def test_a_public_win_that_loses_held_out_is_flagged_in_the_report(store):
    base, child = pair(store, {1: 3.50, 2: 3.48, 3: 3.47, 4: 3.49},
                       {1: 3.30, 2: 3.28, 3: 3.29, 4: 3.27})
    base = record(store, base, HELD, {1: 4.10, 2: 4.12})
    child = record(store, child, HELD, {1: 4.30, 2: 4.28})
    store.decide(base.id, NodeStatus.ACCEPTED, "baseline")
    store.decide(child.id, NodeStatus.ACCEPTED, "better beyond noise")
    found = evidence.held_out(store.node(child.id), store.node(base.id), JUDGE, HELD, (1, 2))
    [finding] = found
    assert finding.check == f"held-out.{HELD}" and not finding.blocking  # a flag, not a veto
    assert "the gain did not generalise" in finding.message
    store.add_findings(child.id, found)

    # the public gain beside the held-out gain, and the flag, in the report a user reads
    from recursor.report import summary

    entry = summary._node_entry(store, store.node(child.id), METRIC, list(SEEDS),
                                store.node(base.id), True, [HELD])
    assert entry["gain_pct"] == pytest.approx(100 * (3.485 - 3.285) / 3.485)
    assert entry["heldout"][HELD]["seeds"] == [1, 2]
    assert entry["heldout"][HELD]["gain_pct"] == pytest.approx(100 * (4.11 - 4.29) / 4.11)
    assert entry["flagged"] == [f"held-out.{HELD}"]
    text = markdown_report(_report(store, entry))
    assert "⚑" in text and "held-out" in text


def test_a_win_on_both_is_not_flagged(store):
    base, child = pair(store, {1: 3.50, 2: 3.48}, {1: 3.30, 2: 3.28})
    base = record(store, base, HELD, {1: 4.10, 2: 4.12})
    child = record(store, child, HELD, {1: 4.00, 2: 4.05})
    assert evidence.held_out(child, base, JUDGE, HELD, (1, 2)) == []


def _report(store, entry):
    """A report holding one node entry, as build_report lays it out."""
    base = store.nodes()[0]
    return {
        "task": "tiny-lm", "run_dir": str(store.run_dir), "status": "finished",
        "end_reason": "budget", "metric": {"name": METRIC, "direction": "minimize",
                                           "unit": "bits per byte"},
        "config": {}, "seeds": list(SEEDS),
        "baseline": {"node": base.id, "mean": base.mean(METRIC, SEEDS), "std": 0.01, "n": 4},
        "best": {"node": entry["id"], "mean": entry["mean"], "std": 0.01, "n": 4,
                 "improvement_pct": entry["gain_pct"], "ci95": [5.0, 6.0],
                 "lineage": [base.id, entry["id"]]},
        "counts": {"experiments": 1, "accepted": 1, "rejected": 0, "failed": 0,
                   "stopped_early": 0, "running": 0},
        "nodes": [entry], "wall_seconds": 1.0, "sandbox": None, "false_accept_bound": 0.02,
    }
