"""The anytime research yield of a run (recursor.report.anytime): what it counts, and where a
person reads it.

The runs are written through the store as the loop writes them (a real run folder of tiny-lm,
its task snapshot and database), in the order each test calls: that order is the order of the
run's decisions. Every evaluation takes 10 s unless a test says otherwise, and the baseline's
runs of val_bpb take 10 s, so one seed-run equivalent (SRE) is 10 s. The baseline runs val_bpb
and the held-out wikitext2_bpb on seeds 1 and 2 (4 SRE); an accepted node does the same (4 SRE);
a rejected node runs its screen (1 SRE).
"""

from __future__ import annotations

import io
import json

import pytest
from conftest import SMALL
from rich.console import Console
from typer.testing import CliRunner

import recursor
from recursor.cli.app import app
from recursor.loop.setup import create_run
from recursor.report import html
from recursor.report.render import headline, markdown_report, text_report
from recursor.settings import RunConfig
from recursor.store import Idea, NodeStatus

METRIC, HELD = "val_bpb", "wikitext2_bpb"
SEEDS = SMALL["seeds.values"]  # [1, 2]: the held-out evaluation runs on both
runner = CliRunner()


class Made:
    """A run of tiny-lm, written node by node."""

    def __init__(self, path, *, heldout: bool = True, objective: str | None = None,
                 **overrides):
        config = RunConfig(experiments=10, overrides={**SMALL, **overrides}, discoveries=False,
                           heldout=heldout, objective=objective)
        self.path = path
        self.store = create_run("tiny-lm", config, path)
        self.public = objective or METRIC
        self.baseline: int | None = None
        self.count = 0

    def evaluate(self, node: int, seed: int, value: float | None, seconds: float = 10.0,
                 evaluation: str | None = None, end: str = "ok") -> None:
        ev = self.store.start_evaluation(node, seed, evaluation or self.public)
        self.store.finish_evaluation(ev.id, ok=end == "ok", value=value, metrics={},
                                     reason=None if end == "ok" else end, seconds=seconds,
                                     stopped=end == "stopped")

    def base(self, public: float = 3.0, held: float | None = 4.0) -> int:
        node = self.store.add_node(None, None, {"train.py": "x = 1\n"}).id
        for seed in SEEDS:
            self.evaluate(node, seed, public)
        self.store.decide(node, NodeStatus.ACCEPTED, "baseline")
        if held is not None:  # the loop runs the baseline's held-out runs once it is accepted
            for seed in SEEDS:
                self.evaluate(node, seed, held, evaluation=HELD)
        self.baseline = node
        return node

    def _node(self) -> int:
        self.count += 1
        idea = Idea(f"idea {self.count}", proposer="library")
        return self.store.add_node(self.baseline, idea, {"train.py": f"x = {self.count}\n"}).id

    def accept(self, public: float, held: float | None) -> int:
        node = self._node()
        for seed in SEEDS:
            self.evaluate(node, seed, public)
        if held is not None:  # the held-out gate: before the accept stands
            for seed in SEEDS:
                self.evaluate(node, seed, held, evaluation=HELD)
        self.store.decide(node, NodeStatus.ACCEPTED, "better beyond noise")
        return node

    def reject(self, public: float = 3.5) -> int:
        node = self._node()
        self.evaluate(node, SEEDS[0], public)
        self.store.decide(node, NodeStatus.REJECTED, "screen: not better")
        return node

    def open(self) -> recursor.Run:
        self.store.close()
        return recursor.open_run(self.path)


def flat(text: str) -> str:
    """`text` with its white space as one space: the terminal folds a long line."""
    return " ".join(text.split())


def early_and_late(tmp_path) -> tuple[recursor.Run, recursor.Run]:
    """The same accepted node (held-out gain +10%) and the same three rejected ones, the
    accept early (at 8 of 11 SRE) in one run and late (at 10 of 11) in the other."""
    early = Made(tmp_path / "early")
    early.base()
    early.accept(2.7, 3.6)
    for _ in range(3):
        early.reject()
    late = Made(tmp_path / "late")
    late.base()
    late.reject()
    late.reject()
    late.accept(2.7, 3.6)
    late.reject()
    return early.open(), late.open()


def test_a_run_that_accepts_nothing_yields_exactly_zero(tmp_path):
    made = Made(tmp_path / "run")
    made.base()
    # a lucky screen, far better than the baseline, and then rejected: it never counts
    lucky = made.reject(public=2.0)
    for seed in SEEDS:
        made.evaluate(lucky, seed, 3.0, evaluation=HELD)
    made.reject()
    found = made.open().anytime_yield()
    assert found.value == 0.0 and found.area == 0.0 and found.points == ()
    assert found.total_sre == pytest.approx(4 + 3 + 1)  # what it spent is still counted
    assert "no accepted candidate improved on the baseline" in found.describe()


def test_an_acceptance_earlier_in_compute_yields_more(tmp_path):
    early, late = (run.anytime_yield() for run in early_and_late(tmp_path))
    assert early.total_sre == late.total_sre == pytest.approx(11)
    assert [(p.sre, p.gain) for p in early.points] == [(pytest.approx(8), pytest.approx(0.1))]
    assert [(p.sre, p.gain) for p in late.points] == [(pytest.approx(10), pytest.approx(0.1))]
    assert early.value == pytest.approx(0.1 * 3 / 11)
    assert late.value == pytest.approx(0.1 * 1 / 11)
    assert early.value > late.value > 0


def test_a_node_accepted_in_public_but_worse_held_out_counts_against_the_run(tmp_path):
    made = Made(tmp_path / "run")
    made.base(public=3.0, held=4.0)
    node = made.accept(2.7, 4.2)  # 10% better on val_bpb, 5% worse on wikitext2_bpb
    made.reject()
    made.reject()
    found = made.open().anytime_yield()
    assert found.metric == HELD and found.held_out and found.fallback is None
    assert [(p.node, p.gain) for p in found.points] == [(node, pytest.approx(-0.05))]
    assert found.value == pytest.approx(-0.05 * 2 / 10)
    assert found.describe().startswith("anytime yield: -1.00% mean held-out wikitext2_bpb gain")


@pytest.mark.parametrize("direction, public, held, gain", [
    ("minimize", 2.7, 3.6, 0.1),    # lower is better, on both
    ("maximize", 3.3, 4.4, 0.1),    # higher is better, on both
    ("maximize", 3.3, 3.6, -0.1),   # better in public, worse held out
    ("maximize", 2.7, 4.4, 0.0),    # worse than the baseline on the objective: never led
])
def test_gains_point_the_way_the_task_says_is_better(tmp_path, direction, public, held, gain):
    made = Made(tmp_path / "run", **{"metric.direction": direction})
    made.base(public=3.0, held=4.0)
    made.accept(public, held)
    made.reject()
    found = made.open().anytime_yield()
    assert found.gain_at(found.total_sre) == pytest.approx(gain)
    assert found.value == pytest.approx(gain * 1 / 9)


def test_the_incumbent_is_the_best_on_the_objective_not_on_the_held_out_metric(tmp_path):
    made = Made(tmp_path / "run")
    made.base(public=3.0, held=4.0)
    first = made.accept(2.7, 3.6)   # +10% held out
    second = made.accept(2.6, 3.8)  # better on val_bpb, only +5% held out: it leads
    made.accept(2.8, 3.0)           # +25% held out, but behind on val_bpb: it never leads
    found = made.open().anytime_yield()
    assert [(p.sre, p.node, p.gain) for p in found.points] == [
        (pytest.approx(8), first, pytest.approx(0.1)),
        (pytest.approx(12), second, pytest.approx(0.05))]
    assert found.area == pytest.approx(0.1 * 4 + 0.05 * 4)
    assert found.value == pytest.approx(0.6 / 16)


def test_a_horizon_cuts_the_curve_off_or_holds_its_last_value(tmp_path):
    run, _ = early_and_late(tmp_path)  # +10% from 8 SRE; the run spent 11
    assert run.anytime_yield().horizon == pytest.approx(11)
    longer = run.anytime_yield(horizon=20)
    assert longer.area == pytest.approx(0.1 * 12) and longer.value == pytest.approx(0.06)
    assert "over 20.0 SRE" in longer.describe() and "the run spent 11.0 SRE" in longer.describe()
    shorter = run.anytime_yield(horizon=9)
    assert shorter.area == pytest.approx(0.1) and shorter.value == pytest.approx(0.1 / 9)
    assert run.anytime_yield(horizon=8).value == 0.0   # cut off where the accept came
    before = run.anytime_yield(horizon=5)  # the whole budget spent before the accept
    assert before.value == 0.0 and "the first accepted gain came after the horizon" in \
        before.describe()
    assert run.anytime_yield(horizon=0).value == 0.0
    with pytest.raises(ValueError, match="at least 0"):
        run.anytime_yield(horizon=-1)


def test_without_held_out_results_the_public_metric_is_used_and_said(tmp_path):
    made = Made(tmp_path / "run", heldout=False)
    made.base(public=3.0, held=None)
    made.accept(2.7, None)
    run = made.open()
    found = run.anytime_yield()
    assert found.metric == METRIC and not found.held_out
    assert "the baseline has no finished wikitext2_bpb result" in found.fallback
    assert found.points[0].gain == pytest.approx(0.1)  # (3.0 - 2.7) / 3.0
    assert "mean public val_bpb gain" in found.describe()
    assert "not held out: the baseline has no finished" in found.describe()
    assert run.report()["anytime_yield"]["fallback"] == found.fallback


def test_one_incumbent_without_held_out_results_puts_the_whole_curve_on_the_public_metric(
        tmp_path):
    made = Made(tmp_path / "run")
    made.base(public=3.0, held=4.0)
    made.accept(2.7, 3.8)           # +10% in public, +5% held out
    last = made.accept(2.4, None)   # +20% in public; its held-out runs never came
    found = made.open().anytime_yield()
    assert found.metric == METRIC and f"node {last} has no finished {HELD}" in found.fallback
    # the first step too is on val_bpb: never +5% on one metric then +20% on another
    assert [p.gain for p in found.points] == [pytest.approx(0.1), pytest.approx(0.2)]


def test_a_run_on_another_objective_is_measured_on_it_and_says_why(tmp_path):
    made = Made(tmp_path / "run", objective="train_seconds")
    made.base(public=10.0, held=None)
    made.accept(8.0, None)
    found = made.open().anytime_yield()
    assert found.metric == "train_seconds" and found.points[0].gain == pytest.approx(0.2)
    assert "optimises train_seconds" in found.fallback and "measure val_bpb" in found.fallback


def test_stopped_and_failed_runs_count_their_own_seconds_and_lost_ones_none(tmp_path):
    made = Made(tmp_path / "run")
    made.base()                                                     # 40 s
    stopped = made._node()
    made.evaluate(stopped, SEEDS[0], None, seconds=3.0, end="stopped")  # stopped at 3 s of 120
    made.store.decide(stopped, NodeStatus.STOPPED_EARLY, "stopped early")
    failed = made._node()
    made.evaluate(failed, SEEDS[0], None, seconds=7.0, end="crashed")
    made.store.decide(failed, NodeStatus.FAILED, "crashed")
    lost = made._node()
    made.store.start_evaluation(lost, SEEDS[0], METRIC)
    made.store.lose_running()                                       # killed: no seconds
    made.accept(2.7, 3.6)                                           # 40 s
    found = made.open().anytime_yield()
    assert found.sre_seconds == 10.0
    assert found.total_sre == pytest.approx((40 + 3 + 7 + 40) / 10)
    assert found.points[0].sre == pytest.approx(9.0)


def test_cpu_hours_are_the_seconds_times_the_tasks_threads(tmp_path):
    made = Made(tmp_path / "run", **{"limits.threads": 2})
    made.base()
    made.accept(2.7, 3.6)
    made.reject()
    found = made.open().anytime_yield()
    assert found.threads == 2
    assert found.cpu_hours == pytest.approx(90 * 2 / 3600)
    assert found.points[0].cpu_hours == pytest.approx(80 * 2 / 3600)
    assert found.horizon_cpu_hours == pytest.approx(found.cpu_hours)


def test_before_the_baseline_has_a_finished_run_there_is_no_yield(tmp_path):
    made = Made(tmp_path / "run")
    node = made.store.add_node(None, None, {"train.py": "x = 1\n"}).id
    made.store.start_evaluation(node, SEEDS[0], METRIC)  # still running
    run = made.open()
    assert run.anytime_yield() is None
    report = run.report()
    assert report["anytime_yield"] is None
    assert any(line.startswith("anytime yield: not measured yet") for line in headline(report))


def test_every_view_of_the_report_shows_the_yield(tmp_path):
    run, _ = early_and_late(tmp_path)
    line = run.anytime_yield().describe()
    assert line.startswith("anytime yield: +2.73% mean held-out wikitext2_bpb gain over 11.0 SRE")
    report = run.report()
    assert report["anytime_yield"]["value"] == pytest.approx(0.3 / 11)
    assert report["anytime_yield"]["points"][0]["node"] == report["best"]["node"]
    assert line in headline(report)
    assert f"- {line}" in markdown_report(report)
    console = Console(file=io.StringIO(), width=400, record=True)
    console.print(text_report(report))
    assert line in console.export_text()
    assert line in html.page(run)  # the line holds nothing HTML escapes
    printed = runner.invoke(app, ["report", str(run.run_dir)])
    assert printed.exit_code == 0 and flat(line) in flat(printed.output)
    data = json.loads(runner.invoke(app, ["report", str(run.run_dir), "--json"]).output)
    assert data["anytime_yield"]["text"] == line


@pytest.mark.slow
def test_a_real_run_reports_its_yield(small_run):
    """The shared real run of tiny-lm (no held-out runs: the public metric, said)."""
    found = small_run.anytime_yield()
    report = small_run.report()
    baseline = next(n for n in small_run.nodes() if n.is_baseline)
    # the baseline's own runs of val_bpb are one SRE each, on average
    runs = [e for e in baseline.evaluations if e.evaluation == METRIC and e.status.value == "ok"]
    assert found.total_sre >= len(runs) - 1e-9
    assert "the baseline has no finished wikitext2_bpb result" in found.fallback
    if found.points:  # the curve ends at the report's best, by the same gain
        assert found.points[-1].node == report["best"]["node"]
        best = next(n for n in report["nodes"] if n["id"] == report["best"]["node"])
        assert 100 * found.points[-1].gain == pytest.approx(best["vs_baseline_pct"])
    printed = runner.invoke(app, ["report", str(small_run.run_dir)])
    assert printed.exit_code == 0 and flat(found.describe()) in flat(printed.output)
