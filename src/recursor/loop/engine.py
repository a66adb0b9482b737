"""The research loop: ask the policy and the proposer, run, tell the judge.

One thread drives everything and is the only writer of the store; experiments run in the
executor's process groups. The loop never blocks on one experiment: it fills every free worker
(first the seeds that undecided nodes need, then new candidates), waits for whichever experiment
ends first, records it, and asks the judge whether that node is decided. Nor does it block on a
proposal: the proposer is called on a thread of its own (`recursor.loop.proposing`).

A run can be killed at any moment. Everything finished is in the store; on resume, evaluations
that were in flight are marked lost and run again, and undecided nodes continue where they were.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, wait
from types import MappingProxyType

from recursor.audit.admission import blocked_reason
from recursor.errors import IntegrityError, RecursorError
from recursor.executor.base import Executor
from recursor.executor.cache import CachedExecutor
from recursor.executor.job import JobResult
from recursor.executor.local import kill_orphan
from recursor.executor.sandbox import Sandbox
from recursor.judge import Judge, JudgeConfig, Pooled, Step
from recursor.judge.constraints import Constraint
from recursor.loop.budget import Budget, queued
from recursor.loop.config import RunConfig
from recursor.loop.discoveries import RunLibrary
from recursor.loop.final import Final
from recursor.loop.gates import HeldOut, across_seeds, harness_findings
from recursor.loop.heldout_runs import HeldOutRuns
from recursor.loop.integrity import Integrity
from recursor.loop.jobs import Flight, make_job, parent_usage, task_fingerprint
from recursor.loop.looks import ValueLooks
from recursor.loop.overhead import OverheadMeter
from recursor.loop.progress import LoopState, Observer, Progress, SilentObserver, snapshot
from recursor.loop.proposing import Proposals
from recursor.loop.stopping import EarlyStopping
from recursor.policy import SearchPolicy
from recursor.proposer import Proposer
from recursor.store import ConfirmVerdict, Finding, Node, NodeStatus, RunStore, Verdict
from recursor.task import Task
from recursor.value import StopSettings

HEARTBEAT_SECONDS = 5.0
TICK_SECONDS = 1.0


class ResearchLoop(ValueLooks, HeldOutRuns):
    def __init__(
        self,
        store: RunStore,
        task: Task,
        config: RunConfig,
        *,
        executor: Executor,
        proposer: Proposer,
        policy: SearchPolicy,
        workers: int,
        data_paths: dict[str, str],
        sandbox: Sandbox,
        observer: Observer | None = None,
    ):
        self.store, self.task, self.config = store, task, config
        self.executor = executor
        self.workers = workers
        self.data_paths = data_paths
        self.observer = observer or SilentObserver()
        spec = task.spec
        self.metric = spec.metric.name
        self.sandbox = sandbox
        self.judge = Judge(self.metric, spec.minimize, spec.seeds.values,
                           JudgeConfig(alpha=config.alpha, min_effect=spec.metric.min_effect,
                                       confirm=spec.seeds.confirm,
                                       confirm_max=spec.seeds.confirm_max,
                                       spending=spec.seeds.confirm_spending,
                                       fresh_base=spec.seeds.fresh_base,
                                       noise=spec.seeds.noise,
                                       constraints=Constraint.of(spec)))
        self.heldout = HeldOut(task, config.heldout)
        self.final = Final(task, config.heldout)
        # made once: the task folder is the run's snapshot, and its harness is checked anyway
        self.task_hash = task_fingerprint(task)
        self._flights: dict[int, Flight] = {}  # evaluation id -> in flight
        self._nodes: dict[int, Node] = {}
        self._noise: Pooled | None = None
        self.integrity = Integrity(task, store.meta()["harness_hashes"], data_paths,
                                   store.meta().get("program_hashes"))
        self._abandoned: set[int] = set()  # runs in flight whose node was stopped early
        self.stopping: EarlyStopping | None = None
        if config.early_stop and spec.metric.curve:
            self.stopping = EarlyStopping.for_run(
                store, task.name, config.overrides, self.metric, spec.metric.curve,
                spec.minimize, StopSettings.of(config), spec.metric.schedule)
        self.meter = OverheadMeter(workers, store.meta().get("engine"))
        self.discoveries = (RunLibrary(store, task, config.discoveries_dir, config.overrides)
                            if config.discoveries and config.discoveries_dir else None)
        self.proposals = Proposals(store, task, config, proposer, policy, self.discoveries,
                                   self._event, data_paths, sandbox, self.task_hash)
        self.budget = Budget(config, self.metric)
        self.ahead = config.ahead

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> str:
        """Drive the run until its budget is spent; return why it ended."""
        session = self.store.begin_session()
        self._elapsed_before = self._previous_sessions_seconds(session)
        self._session_started = time.monotonic()
        end = "interrupted"
        try:
            self._recover()
            self._refresh()
            self._event("sandbox", f"sandbox: {self.sandbox.describe()}")
            self._event("value", self._describe_stopping())
            if isinstance(self.executor, CachedExecutor):
                self._event("cache", self.executor.describe(self.sandbox.kind))
            if self.discoveries is not None:
                self._event("library", self.discoveries.describe())
            if not self._nodes:
                self._add_baseline()
            last_beat = time.monotonic()
            while True:
                self.meter.woke()
                self._fill()
                # free workers while a proposal is out wait on the proposer, not for lack of work
                self.meter.filled(len(self._flights),
                                  proposal_out=self.proposals.pending is not None)
                if not self._flights and self._done():
                    break
                self._collect(TICK_SECONDS)
                self.meter.woke()
                self._look()
                if time.monotonic() - last_beat > HEARTBEAT_SECONDS:
                    self.store.heartbeat(session)
                    self.store.set_meta("engine", self.meter.totals())
                    last_beat = time.monotonic()
                self.observer.on_progress(self.progress())
            end = self._end_reason()
            self._conclude()
            if isinstance(self.executor, CachedExecutor):
                self._event("cache", self.executor.summary())
            self.store.set_meta("finished_at", time.time())
            self.store.set_meta("end_reason", end)
            self._event("finished", f"run finished: {end}")
            return end
        except IntegrityError as err:
            end = "integrity error"
            self.store.set_meta("end_reason", f"integrity error: {err}")
            self._event("integrity", str(err))
            raise
        except _BaselineFailed as err:
            end = "baseline failed"
            self.store.set_meta("finished_at", time.time())
            self.store.set_meta("end_reason", str(err))
            self._event("finished", str(err))
            raise RecursorError(str(err)) from None
        finally:
            self.store.set_meta("engine", self.meter.totals())
            if self._flights:
                self.executor.cancel_all()
                lost = self.store.lose_running()
                self._event("interrupted", f"{len(lost)} experiment(s) in flight were stopped; "
                            "`recursor resume` runs them again")
            self.executor.shutdown()
            self.proposals.close()
            self.store.end_session(session, end)

    # -- recovery and bookkeeping ----------------------------------------------------------

    def _recover(self) -> None:
        lost = self.store.lose_running()
        for ev in lost:
            kill_orphan(self.store.path(ev.job_dir))
        if lost:
            self._event("resume", f"{len(lost)} experiment(s) in flight when the run stopped "
                        "will run again")

    def _refresh(self) -> None:
        self._nodes = {n.id: n for n in self.store.nodes()}
        self._refresh_noise()

    def _previous_sessions_seconds(self, current: int) -> float:
        return sum(
            (s["ended_at"] or s["heartbeat_at"]) - s["started_at"]
            for s in self.store.sessions() if s["id"] != current
        )

    def elapsed(self) -> float:
        return self._elapsed_before + time.monotonic() - self._session_started

    def _deadline(self) -> float | None:
        """time.monotonic() at which the time budget ends; None without one."""
        if self.config.minutes is None:
            return None
        return time.monotonic() + self.config.minutes * 60 - self.elapsed()

    def _event(self, kind: str, message: str, node_id: int | None = None) -> None:
        self.store.event(kind, message, node_id)
        self.observer.on_event(kind, message, node_id)

    # -- budget ----------------------------------------------------------------------------

    def _candidates(self) -> int:
        return self.budget.candidates(self._nodes)

    def _done(self) -> bool:
        return self._searched() and self._pending_final() is None

    def _searched(self) -> bool:
        """The search is over: nothing undecided or due, and no room or idea for more."""
        undecided = any(n.status is NodeStatus.RUNNING for n in self._nodes.values())
        if undecided or self._pending_heldout() is not None or self.proposals.pending:
            return False
        return self.proposals.ended or not self.budget.room(self._nodes, self.elapsed())

    def _end_reason(self) -> str:
        spent = self.budget.spent(self._nodes, self.elapsed())
        if spent is not None:
            return spent
        if self.proposals.stopped is not None:
            return self.proposals.stopped
        return "no idea left to try on any accepted node"

    # -- filling the workers ---------------------------------------------------------------

    def _fill(self) -> None:
        self.proposals.take(self._nodes)
        while len(self._flights) < self.workers:
            pending = self._pending_evaluation()
            if pending is not None:
                self._submit(*pending)
                continue
            if not self._may_propose():
                return
            if self.proposals.pending is None:
                self.proposals.start(self._nodes, self._deadline())
                if self.proposals.take(self._nodes):
                    continue
            # the proposer is thinking: the loop goes on collecting meanwhile, and a mixed
            # team's library gives this worker something to run if it has an idea
            if not (self._may_propose() and self.proposals.fill_gap(self._nodes)):
                return
        self._propose_ahead()

    def _may_propose(self) -> bool:
        """Whether a candidate may be asked for now: the baseline is accepted, ideas are left,
        and it fits in the budget beside the one out, if any."""
        baseline = self._baseline()
        return (baseline is not None and baseline.status is NodeStatus.ACCEPTED
                and not self.proposals.ended
                and self.budget.room(self._nodes, self.elapsed(),
                                     coming=int(self.proposals.pending is not None)))

    def _propose_ahead(self) -> None:
        """Every worker is busy: ask for the next candidate now, so that it is there when one
        is free, unless `propose_ahead` of them wait already."""
        if self.ahead == 0 or self.proposals.pending is not None or not self._may_propose():
            return
        flying = (f.evaluation.node_id for f in self._flights.values())
        if queued(self._nodes, flying) >= self.ahead:
            return
        self.proposals.start(self._nodes, self._deadline())
        self.proposals.take(self._nodes)  # a quick proposer's candidate is back already

    def _pending_evaluation(self) -> tuple[int, int, str, str] | None:
        """(node id, seed, evaluation, stage) of the next run the decisions under way need;
        then the held-out runs of accepted nodes; once the search is over, the final runs."""
        flying = self._flying()
        for node in sorted(self._nodes.values(), key=lambda n: n.id):
            if node.status is not NodeStatus.RUNNING:
                continue
            step = self._step(node)
            if step.action != "run":
                self._decide(node, step)
                if self._nodes[node.id].status is NodeStatus.RUNNING:  # held-out runs first
                    pending = self.heldout.next_for(self._nodes[node.id],
                                                    self._nodes[node.parent_id], flying)
                    if pending is not None:
                        return pending
                continue
            runs = step.runs
            if step.reason == "confirm" and self.stopping is not None:
                # one fresh pair at a time: each ended pair is looked at (futility between
                # pairs) before the next starts, whichever order the workers end in, so the
                # tree a run grows does not depend on timing
                runs = tuple(r for r in runs if r[1] == runs[0][1])
            for node_id, seed in runs:
                if (node_id, seed, self.metric) not in flying:
                    return node_id, seed, self.metric, step.reason
        pending = self._pending_heldout(flying)
        if pending is None and self._searched():
            pending = self._pending_final(flying)
        return pending

    def _step(self, node: Node) -> Step:
        parent = self._nodes.get(node.parent_id) if node.parent_id is not None else None
        noise = self._noise
        if parent is not None and noise is not None:
            # the noise of the nodes proposed up to this one: a verdict the order in which
            # workers end cannot change (see Judge.unsettled)
            noise = self.judge.noise(self._nodes, upto=node.id)
        step = self.judge.next_step(node, parent, noise)
        tested = step.tested or step.reason == "complete" or (
            step.action != "run" and step.verdict is not None and step.verdict.stage == "confirm")
        # ids only grow and a settled node stays settled: a test made here is never made
        # again with another noise (the one of a node that passed is re-made when it completes)
        if tested:
            waiting = self.judge.unsettled(node, self._nodes)
            if waiting is not None:
                return Step("run", (), f"confirm: waits for node {waiting.id}'s fresh pairs")
        return step

    def _tested_with(self, node: Node) -> tuple[float, float, int]:
        """(bar, sigma, df) of the test `node` will get: what its futility looks forecast."""
        noise = self.judge.noise(self._nodes, upto=node.id)
        return self.judge.confirmation_bar(noise), noise.sigma, noise.df

    def _add_baseline(self) -> None:
        node = self.store.add_node(None, None, self.task.program_files())
        self._nodes[node.id] = node
        seeds = len(self.task.spec.seeds.values) + len(self.judge.noise_seeds(node))
        self._event("baseline", f"baseline: running {seeds} seeds to measure the noise floor",
                    node.id)

    # -- running and collecting ------------------------------------------------------------

    def _submit(self, node_id: int, seed: int, evaluation: str, stage: str) -> None:
        self.integrity.check("before an experiment")
        node = self._nodes[node_id]
        if self.integrity.check_program(node.id, self.store.files(node)):
            self.store.set_meta("program_hashes", self.integrity.programs)
        ev = self.store.start_evaluation(node.id, seed, evaluation)
        parent = self._nodes.get(node.parent_id) if node.parent_id is not None else None
        job = make_job(self.task, self.store.path(node.workspace), self.store.path(ev.job_dir),
                       seed, evaluation, self.data_paths, key=str(ev.id), sandbox=self.sandbox,
                       parent_usage=parent_usage(parent, evaluation) if parent else (),
                       task_hash=self.task_hash)
        future = self.executor.submit(job)
        self.meter.submitted(future)
        self._flights[ev.id] = Flight(ev, stage, future, job, time.monotonic())

    def _collect(self, timeout: float) -> None:
        by_future = {f.future: f for f in self._flights.values()}
        pending = self.proposals.pending
        waiting = list(by_future) + ([pending] if pending else [])
        if not waiting:
            return
        done, _ = wait(waiting, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            flight = by_future.get(future)
            if flight is None:
                continue  # the proposal: taken by the next fill
            del self._flights[flight.evaluation.id]
            try:
                result = future.result()
            except Exception as err:  # a bug in the executor must not end the run
                result = JobResult(flight.job.key, False, None, {},
                                   f"executor error: {type(err).__name__}: {err}",
                                   time.monotonic() - flight.started)
            self._record(flight, result)
            # the program ran beside the harness and the data: prove it did not touch them
            self.integrity.check(f"after experiment {flight.evaluation.id}")

    def _record(self, flight: Flight, result: JobResult) -> None:
        ev = flight.evaluation
        if ev.id in self._abandoned:
            self._abandoned.discard(ev.id)
            # a run that ended before the stop reached it keeps its result, as evidence
            why = None if result.ok else f"stopped: node {ev.node_id}'s decision came first"
            self.store.finish_evaluation(ev.id, ok=result.ok, value=result.value,
                                         metrics=result.metrics, reason=why,
                                         seconds=result.seconds, curve=result.curve,
                                         stopped=not result.ok)
            self._nodes[ev.node_id] = self.store.node(ev.node_id)
            return
        self.store.finish_evaluation(ev.id, ok=result.ok, value=result.value,
                                     metrics=result.metrics, reason=result.reason,
                                     seconds=result.seconds, curve=result.curve)
        findings = harness_findings(result.metrics, ev.node_id, ev.seed)
        if findings:
            self.store.add_findings(ev.node_id, findings)
        node = self.store.node(ev.node_id)
        self._nodes[node.id] = node
        what = (f"{ev.evaluation}={result.value:.4f}" if result.ok
                else f"failed: {result.reason}")
        cached = " (replayed from the result cache)" if "replayed" in result.metrics else ""
        self._event("evaluated", f"node {node.id} seed {ev.seed} ({flight.stage}): {what} "
                    f"in {result.seconds:.0f} s{cached}", node.id)
        for f in findings:
            kind = "blocking" if f.blocking else "warning"
            self._event("finding", f"node {node.id} seed {ev.seed}: {f.check} ({kind}): "
                        f"{f.message}", node.id)
        if ev.evaluation != self.metric:
            if node.status is NodeStatus.RUNNING and not node.is_baseline:
                blocking = [f for f in findings if f.blocking]
                if blocking:  # the held-out runs get the same audits as the public ones
                    self._decide(node, Step("reject", reason=blocked_reason(blocking)))
                else:
                    self._decide(node, self._step(node))
            else:
                self._check_heldout(node)
            return
        if node.status is not NodeStatus.RUNNING:
            return
        blocking = [f for f in findings if f.blocking]
        if blocking and not node.is_baseline:
            self._decide(node, Step("reject", reason=blocked_reason(blocking)))
            return
        self._decide(node, self._step(node))

    def _decide(self, node: Node, step: Step) -> None:
        if step.action == "run":
            return
        if node.is_baseline and step.action == "fail":
            raise _BaselineFailed(
                f"the baseline failed ({step.reason}). The task's own program must run before "
                f"recursor can improve it; see the logs under {self.store.node_dir(node.id)}"
            )
        if not node.is_baseline and step.verdict and step.verdict.stage == "confirm":
            step = self._audit_evidence(node, step)
            if step.action == "accept" and self.heldout:
                parent = self._nodes[node.parent_id]
                if not self.heldout.complete(node, parent):
                    return  # accepted by the judge: its held-out runs decide whether it stands
                found = self.heldout.gate(self._nodes[node.id], parent, self.judge,
                                          _sigma(step.verdict) or 0.0, self._nodes)
                node = self._add_findings(self._nodes[node.id], found)
                if node.blocking:
                    step = Step("reject", reason=blocked_reason(list(node.blocking)),
                                verdict=step.verdict)
        status = {"accept": NodeStatus.ACCEPTED, "reject": NodeStatus.REJECTED,
                  "fail": NodeStatus.FAILED}[step.action]
        node = self.store.decide(node.id, status, step.reason, step.verdict)
        self._nodes[node.id] = node
        self._refresh_noise()
        label = "baseline" if node.is_baseline else f"node {node.id} '{node.title}'"
        self._event(status.value, f"{label} {status.value}: {step.reason}", node.id)
        if self.discoveries is not None and status is NodeStatus.ACCEPTED:
            self._keep_discovery(node)

    def _keep_discovery(self, node: Node) -> None:
        self._event("library", self.discoveries.accepted(node, self._nodes), node.id)

    def _audit_evidence(self, node: Node, step: Step) -> Step:
        """The auditor's checks across seeds and windows, before a confirmed verdict stands."""
        # fresh windows score the task's own metric: beside a gain in another objective they
        # say nothing, so that check is for runs that optimise the task's metric
        found = across_seeds(node, self._nodes[node.parent_id], self.judge,
                             step.action == "accept" and self.task.task_metric is None,
                             _sigma(step.verdict), self.task.spec.seeds.values)
        node = self._add_findings(node, found, announce=False)
        blocking = [f for f in node.findings if f.blocking]
        if not blocking:
            return step
        # the auditor's reason comes first: it says why the numbers are not to be trusted
        judged = f"; judge: {step.reason}" if step.action == "reject" else ""
        return Step("reject", reason=blocked_reason(blocking) + judged, verdict=step.verdict)

    def _add_findings(self, node: Node, found: list[Finding], announce: bool = True) -> Node:
        """Store findings on `node`, with `announce` flagging the warnings as events; the node
        as it is now."""
        if not found:
            return node
        self.store.add_findings(node.id, found)
        self._nodes[node.id] = node = self.store.node(node.id)
        for f in found:
            if announce and not f.blocking:
                self._event("flagged", f"node {node.id} '{node.title}': {f.message}", node.id)
        return node

    def _baseline(self) -> Node | None:
        return next((n for n in self._nodes.values() if n.is_baseline), None)

    def _refresh_noise(self) -> None:
        self._noise = None
        baseline = self._baseline()
        if baseline is not None and baseline.status is NodeStatus.ACCEPTED:
            self._noise = self.judge.noise(self._nodes)

    # -- progress --------------------------------------------------------------------------

    def state(self) -> LoopState:
        """A read-only view of the loop as it stands, for whoever watches it."""
        return LoopState(self.task, self.config, self.metric, self.workers, self.elapsed(),
                         self._candidates(), MappingProxyType(self._nodes),
                         tuple(self._flights.values()))

    def progress(self) -> Progress:
        return snapshot(self.state())


class _BaselineFailed(Exception):
    pass


def _sigma(verdict: Verdict | None) -> float | None:
    """The pooled spread a paired test used; None without a test (the parent failed)."""
    return verdict.sigma if isinstance(verdict, ConfirmVerdict) else None
