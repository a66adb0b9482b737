"""The loop's side of the value function: look at running candidates, stop the doomed ones.

At every tick the loop hands over its experiments in flight. A candidate's run (its screen or
one of its confirmation seeds) is looked at each time its curve reaches a new progress point
(once for each point it passed since the last tick, on its curve as it stood there, so that
a fast run gets the looks a slow one would): the forecast is stored, and when the stop rule
says so the loop stops the node. In the
confirmation stage the node is also looked at as a whole, the forecasts of its fresh seeds
combined into a forecast of its paired test (recursor.value.futility), while a fresh run goes
and again each time a fresh pair ends (before the next starts): a near-null candidate, which
beats its parent on half the seeds, is stopped once its test is forecast to fail. The same look
is made while the screen runs, on the chance that the screen passes and then the test does
(its forecast's doubt spread over the screen's outcome). Runs of the baseline, of parents,
held-out runs and the `complete` seeds of a node that already passed its test are never
stopped.

A test look forecasts the test its node will get: the judge pools the noise of the nodes proposed
up to it (Confirmation.tested_with). No test look is made before that noise has MIN_NOISE_DF
degrees of freedom. The judge pools it over the baseline's seeds (its noise seeds included) and
one degree per node that ran both fresh pairs, so early in a run the test's bar is inflated
(t(0.02) is 3.48 at 3 degrees, 2.15 at 30), and the fresh pairs of the near-nulls these looks
give up are what would bring it down: a run whose looks stopped them kept a bar so high that
its judge rejected a winner the same run without early stopping accepted (the seed-8
value-function bench, docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from recursor.executor.job import read_metrics
from recursor.store import EvalStatus, Node, NodeStatus, Prediction, RunStore, StoppedEarlyVerdict
from recursor.value import Curve, Forecast, Pair, StopRule, StopSettings
from recursor.value.base import CurveValue, ValueFunction
from recursor.value.calibration import audit_outcomes
from recursor.value.curves import looked_at, readings, schedule_departs
from recursor.value.futility import confirm_forecast, effect_spread, screen_forecast
from recursor.value.history import earlier_pairs, program_key, run_pairs
from recursor.value.stopper import Streaks

STOPPABLE = ("screen", "confirm")
MIN_NOISE_DF = 6  # the judge's noise before a test look is made (t(0.02) 2.61, 21% above 30's)


@dataclass(frozen=True)
class Flying:
    """What the value function needs of one experiment in flight."""

    evaluation_id: int
    node_id: int
    seed: int
    evaluation: str
    stage: str
    metrics_file: Path
    token: str | None = None  # the job's, for its signed metrics records


@dataclass(frozen=True)
class Confirmation:
    """What the futility look needs of the judge, as the run stands now."""

    bar: float  # the mean fresh improvement the paired test needs (Judge.confirmation_bar)
    sigma: float  # the run's pooled spread of paired differences
    screen_seed: int
    seeds: Callable[[Node], tuple[int, ...]]  # a node's fresh confirmation seeds
    df: int = 30  # sigma's degrees of freedom
    # node -> (bar, sigma, df) of the test that node will get (the judge pools the nodes
    # proposed up to it); None: the ones above for every node
    tested_with: Callable[[Node], tuple[float, float, int]] | None = None

    def of(self, node: Node) -> Confirmation:
        if self.tested_with is None:
            return self
        bar, sigma, df = self.tested_with(node)
        return replace(self, bar=bar, sigma=sigma, df=df, tested_with=None)


@dataclass(frozen=True)
class Stop:
    node_id: int
    evaluation_id: int  # the run whose look stopped the node
    progress: float
    predicted: float  # final difference, candidate minus parent (the fresh seeds' mean: confirm)
    interval: tuple[float, float]  # its 90% interval
    p: float  # P(better than the parent on the seed), or P(the paired test passes): confirm
    risk: float
    step: int | None
    pairs: int
    scope: str = "seed"
    bar: float | None = None  # scope confirm: the mean improvement the test needs
    between: tuple[int, int] | None = None  # a look between pairs: (pairs ended, pairs in all)
    prior_sd: float | None = None  # scope confirm: the run's spread of true effects (or flat)
    in_screen: bool = False  # scope confirm: the look was made while the screen ran

    def reason(self, metric: str, minimize: bool, parent_id: int | None) -> str:
        # as a loss: positive = worse than the parent, whichever way the metric points
        sign = 1 if minimize else -1
        lo, hi = sorted(sign * x for x in self.interval)
        loss = sign * self.predicted
        forecast = (f"forecast {metric} {abs(loss):.4g} {'worse' if loss > 0 else 'better'} "
                    f"than node {parent_id}")
        if self.scope == "confirm" and self.between is not None and self.between[0] == 0:
            return (f"stopped early after its screen (before its {self.between[1]} confirmation "
                    f"pairs started): {forecast} on average over its fresh seeds (90% interval "
                    f"[{lo:+.4g}, {hi:+.4g}], + = worse); the test needs {self.bar:.4g} better, "
                    f"P(pass) = {self.p:.3g} < {self.risk:g}")
        if self.scope == "confirm" and self.between is not None:
            done, total = self.between
            return (f"stopped early after {done} of its {total} confirmation pairs (before the "
                    f"next started): {forecast} on average over its fresh seeds (90% interval "
                    f"[{lo:+.4g}, {hi:+.4g}], + = worse); the test needs {self.bar:.4g} better, "
                    f"P(pass) = {self.p:.3g} < {self.risk:g}")
        if self.scope == "confirm" and self.in_screen:
            return (f"stopped early at {self.progress:.0%} of its screen (seed run "
                    f"{self.evaluation_id}), its screen and test forecast to fail: {forecast} "
                    f"on average over its fresh seeds were its screen to pass (90% interval "
                    f"[{lo:+.4g}, {hi:+.4g}], + = worse); the test needs {self.bar:.4g} "
                    f"better, P(screen and test pass) = {self.p:.3g} < {self.risk:g}")
        if self.scope == "confirm":
            return (f"stopped early at {self.progress:.0%} of confirmation run "
                    f"{self.evaluation_id}: {forecast} on average over its fresh seeds (90% "
                    f"interval [{lo:+.4g}, {hi:+.4g}], + = worse); the test needs "
                    f"{self.bar:.4g} better, P(pass) = {self.p:.3g} < {self.risk:g}")
        return (f"stopped early at {self.progress:.0%} of seed run {self.evaluation_id}: "
                f"{forecast} (90% interval [{lo:+.4g}, {hi:+.4g}], + = worse), "
                f"P(better) = {self.p:.3g} < {self.risk:g}")

    def verdict(self, parent_id: int) -> StoppedEarlyVerdict:
        v = StoppedEarlyVerdict(self.scope, parent_id, self.evaluation_id, self.progress,
                                self.step, self.predicted, tuple(self.interval), self.risk,
                                self.pairs)
        if self.scope == "confirm":
            return replace(v, p_pass=self.p, bar=self.bar, effect_spread=self.prior_sd,
                           pairs_ended=tuple(self.between) if self.between else None,
                           during="screen" if self.in_screen else None)
        return replace(v, p_better=self.p)


class EarlyStopping:
    def __init__(self, store: RunStore, metric: str, curve_key: str, minimize: bool,
                 settings: StopSettings, history: Iterable[Pair] = (),
                 schedule_key: str | None = None, value: ValueFunction | None = None):
        self.store, self.metric, self.key = store, metric, curve_key
        self.schedule_key = schedule_key  # the curve quantity that is the learning rate
        self._points: dict[int, list[dict]] = {}  # finished evaluations' curve points
        self._departed: set[int] = set()  # nodes whose schedule is not their parent's
        self._notices: list[tuple[int, str]] = []
        self.history = tuple(history)
        self._curves: dict[int, Curve] = {}  # finished evaluations' curves
        self._programs: dict[int, object] = {}  # node -> its program's identity
        self._pairs_seen: tuple = ()
        # the deciding: pure, handed the curves read here (recursor.value.base)
        self.value: ValueFunction = (CurveValue(StopRule(settings, minimize), self.history)
                                     if value is None else value.fitted(self.history))
        looks = store.predictions()
        # evaluation -> last progress point looked at; a resumed loop does not look again
        self._looked: dict[int, float] = {}
        for p in looks:
            if p.scope == "seed":
                self._looked[p.evaluation_id] = max(p.progress,
                                                    self._looked.get(p.evaluation_id, 0.0))
        self._audited: set[int] = {p.evaluation_id for p in looks
                                   if p.decision == "audit" and p.scope == "seed"}
        # a node whose futility stop is audited runs its confirmation to the end, unlooked at
        owners = {e.id: n.id for n in store.nodes() for e in n.evaluations}
        self._audited_nodes: set[int] = {owners[p.evaluation_id] for p in looks
                                         if p.decision == "audit" and p.scope == "confirm"}
        # successive looks below the level: per seed run, and per node for its test looks
        self._streaks = Streaks()
        for p in looks:
            key = (("seed", p.evaluation_id) if p.scope == "seed"
                   else ("confirm", owners.get(p.evaluation_id)))
            self._streaks.add(key, p.p_better, p.risk)
        self._latest: dict[int, tuple[Forecast, int, int | None]] = {}  # eval -> last forecast
        self._pairs_looked: dict[int, int] = {}  # node -> fresh pairs ended at its last look
        self._risk = settings.risk
        self._test_risk = settings.test_risk

    @classmethod
    def for_run(cls, store: RunStore, task_name: str, overrides: dict, metric: str,
                curve_key: str, minimize: bool, settings: StopSettings,
                schedule_key: str | None = None) -> EarlyStopping:
        history = earlier_pairs(store.run_dir, task_name, overrides, metric, curve_key)
        return cls(store, metric, curve_key, minimize, settings, history, schedule_key)

    # -- the model, refitted when pairs finish ----------------------------------------------

    def _refresh(self, nodes: dict[int, Node]) -> None:
        found = tuple(run_pairs(nodes.values(), self.metric))
        if found == self._pairs_seen:
            return
        self._pairs_seen = found
        pairs = list(self.history)
        for cand, ref, diff, node in found:
            pairs.append(Pair(self._finished_curve(cand), self._finished_curve(ref), diff,
                              self._program(nodes[node])))
        self.value = self.value.fitted(pairs)
        outcomes = audit_outcomes(self.store.predictions(), nodes.values(), self.value.minimize)
        self._risk = self.value.risk_now(outcomes, "seed")
        self._test_risk = self.value.risk_now(outcomes, "confirm")

    def _program(self, node: Node) -> object:
        if node.id not in self._programs:
            self._programs[node.id] = program_key(self.store.path(node.workspace)) or (
                "this run", node.id)
        return self._programs[node.id]

    def _finished_curve(self, eval_id: int) -> Curve:
        if eval_id not in self._curves:
            self._curves[eval_id] = Curve.from_points(self._finished_points(eval_id), self.key)
        return self._curves[eval_id]

    def _finished_points(self, eval_id: int) -> list[dict]:
        if eval_id not in self._points:
            self._points[eval_id] = self.store.curve(eval_id)
        return self._points[eval_id]

    def take_notices(self) -> list[tuple[int, str]]:
        """(node, message) for what the looks found that is not a stop, once each."""
        out, self._notices = self._notices, []
        return out

    def describe(self, audit: float) -> str:
        return (f"early stopping: on (stop below {self._risk:g} chance of beating the parent, or "
                f"below {self._test_risk:g} chance of passing the test, looked at from the "
                f"screen on once the judge's noise has {MIN_NOISE_DF} degrees of freedom; "
                f"{audit:.0%} of would-be stops audited; {len(self.history)} finished pairs from "
                f"earlier runs of the task)")

    @property
    def risk(self) -> float:
        return self._risk

    @property
    def test_risk(self) -> float:
        return self._test_risk

    @property
    def pairs(self) -> int:
        return len(self.value.pairs)

    # -- looking ---------------------------------------------------------------------------

    def look(self, running: Iterable[Flying], nodes: dict[int, Node],
             confirmation: Confirmation | None = None) -> list[Stop]:
        """Forecast every stoppable run that reached a new progress point; the stops due. With
        `confirmation`, a node in its confirmation stage is also stopped when its paired test
        is forecast to fail (recursor.value.futility), once the run's noise estimate has
        MIN_NOISE_DF degrees of freedom."""
        running = list(running)
        self._refresh(nodes)
        live = {(r.node_id, r.seed): r for r in running if r.evaluation == self.metric}
        stops: dict[int, Stop] = {}
        fresh_looks: dict[int, Flying] = {}  # node -> a confirmation run with a new forecast
        # node -> its screen and each new forecast of it (forecast, reference run, step)
        screen_looks: dict[int, tuple[Flying, list[tuple[Forecast, int, int | None]]]] = {}
        for r in running:
            node = nodes.get(r.node_id)
            if (r.stage not in STOPPABLE or r.evaluation != self.metric or node is None
                    or node.is_baseline or node.status is not NodeStatus.RUNNING
                    or r.evaluation_id in self._audited or node.id in self._audited_nodes):
                continue
            parent = nodes.get(node.parent_id)
            ref_id, ref_curve, ref_points = self._reference(parent, r.seed, live)
            if ref_curve is None:
                continue
            points = read_metrics(r.metrics_file, r.token)[0]
            # one look per grid point passed since the last, each on the curve as it stood
            # there: whether a fast run is stopped must not hang on when the loop ticked
            seen = readings(points, self.key, ref_curve.reached,
                            self._looked.get(r.evaluation_id, 0.0))
            if not seen:
                continue
            self._looked[r.evaluation_id] = looked_at(min(seen[-1].reached, ref_curve.reached))
            looks = [(curve, fc) for curve in seen
                     if (fc := self.value.forecast(curve, ref_curve, self._program(node)))]
            if not looks:
                continue
            if self._departs(node, parent, points, ref_points):
                # its forecasts are kept (the calibration counts them) but stop nothing, and no
                # test look may lean on them
                self._latest.pop(r.evaluation_id, None)
                for curve, forecast in looks:
                    self._add_look(r, ref_id, curve, forecast, "continue")
                continue
            for curve, forecast in looks:
                self._latest[r.evaluation_id] = (forecast, ref_id, curve.step)
                # a confirmation run is one of its node's paired seeds: a winner may well lose
                # one of them (and a schedule that pays off only at the end looks like a loser
                # half-way), so it is stopped only when the node's test is forecast to fail (the
                # futility look below, which weighs what the node's screen already showed),
                # never on its own seed
                p = self.value.p_better(forecast)
                streak = self._streaks.add(("seed", r.evaluation_id), p, self._risk)
                decision = (self.value.decide_on(p, forecast.progress, r.evaluation_id,
                                                 self._risk, streak)
                            if r.stage == "screen" else "continue")
                self._add_look(r, ref_id, curve, forecast, decision)
                if decision == "audit":
                    self._audited.add(r.evaluation_id)
                    break  # it runs to its end, unlooked at
                if decision == "stop":
                    stops[node.id] = Stop(node.id, r.evaluation_id, forecast.progress,
                                          forecast.mean, forecast.interval, p, self._risk,
                                          curve.step, forecast.pairs)
                    break
                if r.stage == "screen":
                    screen_looks.setdefault(node.id, (r, []))[1].append(
                        self._latest[r.evaluation_id])
            if r.stage == "confirm" and node.id not in stops:
                fresh_looks[node.id] = r
        if confirmation is None:
            return list(stops.values())
        gains = self._fresh_gains(nodes, confirmation)
        futile = [(node_id, r, self._latest[r.evaluation_id])
                  for node_id, r in fresh_looks.items() if r.evaluation_id in self._latest]
        futile += [(node_id, r, latest) for node_id, (r, screens) in screen_looks.items()
                   if node_id not in stops for latest in screens]
        for node_id, r, latest in futile:
            c = confirmation.of(nodes[node_id])
            stop = (self._futility(nodes[node_id], nodes, r, live, gains, c, latest)
                    if c.df >= MIN_NOISE_DF and node_id not in stops else None)
            if stop is not None:
                stops[node_id] = stop
        for node in nodes.values():
            if (node.id in stops or node.id in fresh_looks or node.is_baseline
                    or node.status is not NodeStatus.RUNNING):
                continue
            c = confirmation.of(node)
            stop = (self._between_pairs(node, nodes, live, gains, c)
                    if c.df >= MIN_NOISE_DF else None)
            if stop is not None:
                stops[node.id] = stop
        return list(stops.values())

    def _add_look(self, r: Flying, ref_id: int, curve: Curve, forecast: Forecast,
                  decision: str) -> None:
        lo, hi = forecast.interval
        self.store.add_prediction(Prediction(
            r.evaluation_id, ref_id, forecast.progress, curve.step, forecast.mean, lo, hi,
            self.value.p_better(forecast), self._risk, decision, time.time()))

    def _departs(self, node: Node, parent: Node, points: list, ref_points: list) -> bool:
        """Whether the node's learning-rate schedule, as far as both runs have logged it, is
        not its parent's (recursor.value.curves.schedule_departs): its partial gap then says
        nothing of what the rest of its schedule will do, and nothing it reads may stop it.
        Once departed, always: the looks at a node's other seeds see the same program."""
        if node.id in self._departed:
            return True
        if self.schedule_key is None:
            return False
        mine, theirs = (Curve.from_points(x, self.schedule_key) for x in (points, ref_points))
        f = min(mine.reached, theirs.reached)  # every point logged, not only the looked-at ones
        if not schedule_departs(mine, theirs, f):
            return False
        self._departed.add(node.id)
        self._notices.append((node.id, (
            f"node {node.id} '{node.title}': its {self.schedule_key} schedule departs from node "
            f"{parent.id}'s by {f:.0%} of its run, so its partial curves cannot say how it "
            "ends; it runs to its verdict without early stopping")))
        return True

    def _fresh_gains(self, nodes: dict[int, Node], c: Confirmation) -> dict[int, list[float]]:
        """Node -> the improvements of its ended fresh pairs, once per look: the test
        forecasts' prior is their spread over the run's other nodes."""
        sign = -1.0 if self.value.minimize else 1.0
        gains = {}
        for node in nodes.values():
            parent = nodes.get(node.parent_id) if node.parent_id is not None else None
            if node.is_baseline or parent is None:
                continue
            mine, theirs = node.values(self.metric), parent.values(self.metric)
            gains[node.id] = [sign * (mine[s] - theirs[s]) for s in c.seeds(node)
                              if s in mine and s in theirs]
        return gains

    def _between_pairs(self, node: Node, nodes: dict[int, Node], live: dict,
                       gains: dict[int, list[float]], c: Confirmation) -> Stop | None:
        """A node in confirmation whose screen or latest fresh pair has just ended: looked at
        once per ended pair, before its next pair runs (the loop looks before it fills the
        workers again). At the screen the forecast rests on the screen's gain alone; a screen
        gain well under the test's bar already says that the test is unlikely to pass, and a
        near-null's first pair is usually enough to give it up."""
        if (node.is_baseline or node.status is not NodeStatus.RUNNING
                or node.id in self._audited_nodes or node.parent_id not in nodes):
            return None
        mine, theirs = node.values(self.metric), nodes[node.parent_id].values(self.metric)
        screen = c.screen_seed
        if screen not in mine or screen not in theirs:
            return None  # still in its screen
        sign = -1.0 if self.value.minimize else 1.0
        if sign * (mine[screen] - theirs[screen]) <= 0:
            return None  # the judge rejects it at its screen
        fresh = c.seeds(node)
        ended = [s for s in fresh if s in mine and s in theirs]
        if len(ended) == len(fresh):
            return None  # its test is the judge's to decide now
        if len(ended) <= self._pairs_looked.get(node.id, -1):
            return None
        self._pairs_looked[node.id] = len(ended)
        return self._futility(node, nodes, None, live, gains, c, ended=(len(ended), len(fresh)))

    def _futility(self, node: Node, nodes: dict[int, Node], r: Flying | None, live: dict,
                  gains: dict[int, list[float]], c: Confirmation,
                  latest: tuple[Forecast, int, int | None] | None = None,
                  ended: tuple[int, int] | None = None) -> Stop | None:
        """Look at a node's confirmation as a whole: can its paired test still pass? `r` is
        the run (its screen, or a confirmation run) whose new forecast `latest` (forecast,
        reference run, step) prompted the look; None for a look between pairs."""
        parent = nodes.get(node.parent_id)
        if parent is None:
            return None
        sign = -1.0 if self.value.minimize else 1.0
        mine, theirs = node.values(self.metric), parent.values(self.metric)
        screen: float | Forecast
        if c.screen_seed in mine and c.screen_seed in theirs:
            screen = screen_gain = sign * (mine[c.screen_seed] - theirs[c.screen_seed])
        elif r is not None and r.stage == "screen" and latest is not None:
            screen = latest[0]
            screen_gain = sign * screen.mean
        else:
            return None
        if screen_gain >= c.bar:
            # a screen that alone clears the test's bar, then fresh seeds that disagree: the
            # signature of a seed-specific cheat (or bad luck), which the auditor's
            # seed-consistency check needs every fresh pair to name; such a node runs on (and a
            # look below the level before this one no longer counts)
            self._streaks.reset(("confirm", node.id))
            return None
        finished, forecasts, unseen, last_pair = [], [], 0, None
        for seed in c.seeds(node):
            flying = live.get((node.id, seed))
            if seed in mine and seed in theirs:
                finished.append(sign * (mine[seed] - theirs[seed]))
                last_pair = seed
            elif flying is not None and flying.evaluation_id in self._latest:
                forecasts.append(self._latest[flying.evaluation_id][0])
            else:
                unseen += 1  # not started, or its pair has no forecast yet
        # the prior: the other nodes' spread; the node's own pairs enter once, as data
        prior_sd = effect_spread([g for n, g in gains.items() if n != node.id], c.sigma)
        if isinstance(screen, Forecast):  # no fresh seed runs before the screen has ended
            cf = screen_forecast(screen, unseen, c.sigma, c.bar, self.value.minimize, c.df,
                                 prior_sd)
        else:
            cf = confirm_forecast(screen, finished, forecasts, unseen, c.sigma, c.bar,
                                  self.value.minimize, c.df, prior_sd)
        if cf is None:
            return None
        if r is not None and latest is not None:
            eval_id = r.evaluation_id
            _, ref_id, step = latest
        else:  # the look is the ended pair's (or the screen's): its runs name it
            last_pair = c.screen_seed if last_pair is None else last_pair
            eval_id, ref_id = self._run_id(node, last_pair), self._run_id(parent, last_pair)
            step = None
        # a look on forecasts waits for a second one below the level; a look between pairs
        # rests on finished runs and decides at once
        streak = self._streaks.add(("confirm", node.id), cf.p_pass, self._test_risk)
        decision = self.value.decide_on(cf.p_pass, cf.progress, eval_id, self._test_risk,
                                       streak if r is not None else None)
        lo, hi = sorted(sign * x for x in cf.interval)
        self.store.add_prediction(Prediction(
            eval_id, ref_id, cf.progress, step, sign * cf.mean, lo, hi, cf.p_pass,
            self._test_risk, decision, time.time(), scope="confirm"))
        if decision == "audit":
            self._audited_nodes.add(node.id)
        if decision != "stop":
            return None
        return Stop(node.id, eval_id, cf.progress, sign * cf.mean, (lo, hi), cf.p_pass,
                    self._test_risk, step, cf.pairs, scope="confirm", bar=cf.bar, between=ended,
                    prior_sd=prior_sd, in_screen=isinstance(screen, Forecast))

    def _run_id(self, node: Node, seed: int) -> int:
        return next(e.id for e in node.evaluations if e.evaluation == self.metric
                    and e.seed == seed and e.status is EvalStatus.OK)

    def _reference(self, parent: Node | None, seed: int,
                   live: dict) -> tuple[int | None, Curve | None, list[dict]]:
        """The parent's run on the same seed, its curve and its curve points: finished (from
        the store, read once) or still running."""
        if parent is None:
            return None, None, []
        for e in parent.evaluations:
            if e.evaluation == self.metric and e.seed == seed and e.status is EvalStatus.OK:
                return e.id, self._finished_curve(e.id), self._finished_points(e.id)
        r = live.get((parent.id, seed))
        if r is None:
            return None, None, []
        points = read_metrics(r.metrics_file, r.token)[0]
        return r.evaluation_id, Curve.from_points(points, self.key), points
