"""Log a run to MLflow, so teams that track their experiments there see recursor's beside them.

    recursor mlflow RUN [--uri URI] [--experiment NAME] [--follow]
    recursor run TASK ... --mlflow URI          (logs while the run goes)

What lands where (experiment `recursor/<task>` unless named):

- one MLflow run per recursor run, named after its folder: the run's fixed settings as params
  (its budgets, which a resume may raise, as tags), the baseline's metric, the best metric and the
  counts as histories over the decided nodes (each point stamped when that node was decided),
  and, once the run has finished, its report as `report.json` and `report.html`;
- one nested MLflow run per node: the idea as params, status and proposer as tags, the
  hypothesis, rationale and the judge's reason as its note; the metric on every seed, its mean
  over the task's seeds, the paired test's effect, p and interval, every streamed curve step by
  step, and the change (`step.patch`) and the auditor's findings as artifacts. MLflow status:
  FINISHED for accepted and rejected nodes, FAILED for failed ones, KILLED for stopped-early
  ones, RUNNING while undecided.

Logging again is safe and cheap: every MLflow run carries the tags `recursor.run` (the recursor
run's identity) and `recursor.node`, a decided node is logged once, and every point carries the
time it was measured, so the store keeps one copy of a point logged twice. Nothing in the
recursor run changes. MLflow is an optional dependency (`pip install 'recursor[mlflow]'`),
imported only here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recursor.errors import RecursorError
from recursor.loop.config import RunConfig
from recursor.report.run import Run
from recursor.store import ConfirmVerdict, EvalStatus, Node, NodeStatus

log = logging.getLogger("recursor.mlflow")

RUN_TAG, NODE_TAG, STATUS_TAG = "recursor.run", "recursor.node", "recursor.status"
MLFLOW_STATUS = {NodeStatus.ACCEPTED: "FINISHED", NodeStatus.REJECTED: "FINISHED",
                 NodeStatus.FAILED: "FAILED", NodeStatus.STOPPED_EARLY: "KILLED"}
RUN_STATUS = {"finished": "FINISHED", "running": "RUNNING", "interrupted": "KILLED"}
# streamed quantities that are positions, not measurements: they are the step axis
_POSITIONS = {"step", "progress", "tokens", "time", "seconds", "elapsed"}
_BATCH = 900  # MLflow takes at most 1000 metrics per call
_TEXT = 5000  # under MLflow's limits on a tag's and a param's value
FOLLOW_SECONDS = 15.0  # between two logs of a run that goes on
FINAL_WAIT_SECONDS = 60.0  # for the last log when the run ends
PROBE_SECONDS = 10.0  # for a tracking server to answer before a run starts


@dataclass(frozen=True)
class Logged:
    """What one call of `log_run` did."""

    tracking_uri: str
    experiment_id: str
    run_id: str  # the MLflow run of the recursor run; its nodes are nested under it
    logged: int  # nodes logged by this call: new ones, and ones decided since the last call
    nodes: int  # nodes in the recursor run
    status: str  # the recursor run's: finished, running or interrupted


def run_key(meta: dict[str, Any]) -> str:
    """A recursor run's identity in MLflow (from its meta): its task and the moment it was
    created, so a run folder that moves is still the same run, and two runs of one folder name
    are not."""
    seed = f"{meta.get('task')}|{meta.get('created_at')!r}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def log_run(run: Run | Path | str, tracking_uri: str | None = None,
            experiment: str | None = None) -> Logged:
    """Log `run` (finished, running or interrupted) to the MLflow tracking server or store at
    `tracking_uri` (default: MLflow's own, `$MLFLOW_TRACKING_URI`); what is already there is
    not logged twice."""
    client = _client(tracking_uri)
    run = run if isinstance(run, Run) else Run(run)
    try:
        return _Logger(client, run, experiment).log()
    except RecursorError:
        raise
    except Exception as err:  # the tracking server's errors: MlflowException, HTTP, SQL
        raise RecursorError(f"logging {run.run_dir} to MLflow at {client.tracking_uri} failed: "
                            f"{type(err).__name__}: {err}") from err


def check_tracking(tracking_uri: str | None) -> str:
    """Fail now, before a run starts, when MLflow is missing or the tracking URI does not
    answer; the URI MLflow resolved. A server is asked once, with no retries (MLflow's own
    client retries a refused connection for minutes)."""
    client = _client(tracking_uri)
    uri = client.tracking_uri
    try:
        if uri.startswith(("http://", "https://")):
            import requests  # MLflow's own HTTP client library

            answer = requests.get(f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search",
                                  params={"max_results": 1}, timeout=PROBE_SECONDS)
            if answer.status_code >= 500:
                raise RecursorError(f"HTTP {answer.status_code}: {answer.text[:200]}")
        else:
            client.search_experiments(max_results=1)
    except Exception as err:
        raise RecursorError(f"MLflow at {uri} does not answer: "
                            f"{type(err).__name__}: {err}") from err
    return uri


class Follower:
    """Logs a run to MLflow every `every` seconds on a thread of its own while the run goes,
    and once more when it ends; a tracking server that is down costs warnings, never the run."""

    def __init__(self, run_dir: Path | str, tracking_uri: str | None,
                 experiment: str | None = None, every: float | None = None):
        self.run_dir, self.tracking_uri, self.experiment = Path(run_dir), tracking_uri, experiment
        self.every = FOLLOW_SECONDS if every is None else every
        self.last: Logged | None = None
        self.error: RecursorError | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlflow", daemon=True)

    def __enter__(self) -> Follower:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()  # the thread logs the run's last state and ends
        self._thread.join(FINAL_WAIT_SECONDS)
        if self._thread.is_alive():  # a server that retries for minutes does not hold the run
            log.warning("MLflow has not taken the run's last state after %.0f s; it goes on "
                        "trying in the background (`recursor mlflow %s` logs it later)",
                        FINAL_WAIT_SECONDS, self.run_dir)

    def _loop(self) -> None:
        while not self._done.wait(self.every):
            self._once()
        self._once()

    def _once(self) -> None:
        try:
            run = Run(self.run_dir)
            try:
                self.last = log_run(run, self.tracking_uri, self.experiment)
                self.error = None
            finally:
                run.close()
        except RecursorError as err:
            if self.error is None or str(err) != str(self.error):
                log.warning("%s (the run goes on; `recursor mlflow %s` logs it later)",
                            err, self.run_dir)
            self.error = err


# -- the logger ---------------------------------------------------------------------------------


def _client(tracking_uri: str | None) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as err:
        raise RecursorError("logging to MLflow needs the mlflow package: "
                            "pip install 'recursor[mlflow]' (or mlflow itself)") from err
    try:
        return MlflowClient(tracking_uri)
    except Exception as err:
        raise RecursorError(f"MLflow cannot use the tracking URI {tracking_uri!r}: {err}") from err


class _Logger:
    def __init__(self, client: Any, run: Run, experiment: str | None):
        from mlflow.entities import Metric, Param, RunTag

        self.Metric, self.Param, self.RunTag = Metric, Param, RunTag
        self.client, self.run = client, run
        # read once per log: the meta holds the config, the identity and the end time
        self.meta = run.meta
        self.config = RunConfig.from_json(self.meta["config"])
        self.task = run.task
        spec = self.task.spec
        self.metric, self.seeds = spec.metric.name, list(spec.seeds.values)
        self.minimize = spec.minimize
        self.key = run_key(self.meta)
        self.experiment = experiment or f"recursor/{self.task.name}"

    def log(self) -> Logged:
        exp_id = self._experiment_id()
        logged = self._logged(exp_id)
        status = self.run.status
        nodes = self.run.nodes()
        top = logged.pop(None, None)
        top_id = top.info.run_id if top else self._start_top(exp_id)
        fresh = 0
        for node in nodes:
            had = logged.get(node.id)
            if had is not None and had.data.tags.get(STATUS_TAG) == node.status.value:
                continue  # logged as it is now
            self._node(exp_id, top_id, node, had)
            fresh += 1
        was = top.data.tags.get(STATUS_TAG) if top else None
        self._top(top_id, nodes, status, ended=status == "finished" and was != "finished")
        return Logged(self.client.tracking_uri, exp_id, top_id, fresh, len(nodes), status)

    # -- the experiment and what it holds of this run ---------------------------------------

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise RecursorError(f"the MLflow experiment {self.experiment!r} is deleted: "
                                    "restore it, or name another with --experiment")
            return found.experiment_id
        return self.client.create_experiment(
            self.experiment, tags={"recursor.task": self.task.name,
                                   "mlflow.note.content": f"recursor runs of the task "
                                                          f"`{self.task.name}`"})

    def _logged(self, exp_id: str) -> dict[int | None, Any]:
        """This run's MLflow runs: node id -> run, and None -> the run of the whole."""
        found: dict[int | None, Any] = {}
        token = None
        while True:
            page = self.client.search_runs([exp_id], f"tags.`{RUN_TAG}` = '{self.key}'",
                                           max_results=1000, page_token=token)
            for r in page:
                node = r.data.tags.get(NODE_TAG)
                found[int(node) if node is not None else None] = r
            token = page.token
            if not token:
                return found

    # -- the run as a whole -----------------------------------------------------------------

    def _start_top(self, exp_id: str) -> str:
        meta, config = self.meta, self.config
        created = self.client.create_run(
            exp_id, start_time=_ms(meta.get("created_at")), run_name=self.run.run_dir.name[:200],
            tags={RUN_TAG: self.key, "recursor.task": self.task.name})
        run_id = created.info.run_id
        params = {"task": self.task.name, "metric": self.metric,
                  "direction": "minimize" if self.minimize else "maximize",
                  "seeds": ",".join(map(str, self.seeds)), "policy": config.policy,
                  "proposer": config.proposer, "seed": config.seed, "alpha": config.alpha,
                  "early_stop": config.early_stop, "executor": config.executor,
                  "discoveries": config.discoveries,
                  "recursor_version": meta.get("recursor_version", "")}
        params.update({f"set.{k}": v for k, v in sorted(config.overrides.items())})
        self.client.log_batch(run_id, params=[self.Param(k, _text(v, 500))
                                              for k, v in params.items()])
        return run_id

    def _top(self, run_id: str, nodes: list[Node], status: str, ended: bool) -> None:
        config = self.config
        report = self.run.report()
        best = report.get("best") or {}
        tags = {STATUS_TAG: status, "recursor.dir": str(self.run.run_dir.resolve()),
                "budget.experiments": config.experiments, "budget.minutes": config.minutes,
                "workers": config.workers,
                "mlflow.note.content": _text(_top_note(report, self.metric))}
        metrics = list(self._progress(nodes))
        if best.get("improvement_pct") is not None:
            metrics.append(self._point("best/improvement_pct", best["improvement_pct"],
                                       _last_decided(nodes), len(_decided(nodes))))
        self._send(run_id, metrics, tags)
        if ended:
            from recursor.report.html import page

            self.client.log_text(run_id, json.dumps(report, indent=2), "report.json")
            self.client.log_text(run_id, page(self.run), "report.html")
        mlflow_status = RUN_STATUS.get(status, "RUNNING")
        if mlflow_status == "RUNNING":
            self.client.update_run(run_id, status="RUNNING")
        else:
            end = self.meta.get("finished_at") or _last_decided(nodes)
            self.client.set_terminated(run_id, mlflow_status, end_time=_ms(end))

    def _progress(self, nodes: list[Node]) -> Iterable[Any]:
        """The baseline, the best so far and the counts, one point per decided node."""
        better = (lambda a, b: a < b) if self.minimize else (lambda a, b: a > b)
        best: float | None = None
        counts = {s: 0 for s in ("accepted", "rejected", "failed", "stopped-early")}
        for i, node in enumerate(_decided(nodes), start=1):
            at = node.decided_at
            mean = node.mean(self.metric, self.seeds)
            if node.is_baseline and mean is not None:
                yield self._point(f"baseline/{self.metric}", mean, at, 0)
            if node.status is NodeStatus.ACCEPTED and mean is not None and (
                    best is None or better(mean, best)):
                best = mean
            if not node.is_baseline:
                counts[node.status.value] += 1
            if best is not None:
                yield self._point(f"best/{self.metric}", best, at, i)
            for status, n in counts.items():
                yield self._point(f"count/{status}", n, at, i)

    # -- one node ---------------------------------------------------------------------------

    def _node(self, exp_id: str, top_id: str, node: Node, had: Any) -> None:
        if had is None:
            run_id = self.client.create_run(
                exp_id, start_time=_ms(node.created_at), run_name=f"{node.id} {node.title}"[:200],
                tags={RUN_TAG: self.key, NODE_TAG: str(node.id),
                      "mlflow.parentRunId": top_id}).info.run_id
            idea = node.idea
            params = {"idea": node.title, "parent": node.parent_id if node.parent_id is not None
                      else "", "category": idea.category if idea else "baseline",
                      "idea_key": idea.key if idea else "", "proposer": idea.proposer if idea
                      else ""}
            self.client.log_batch(run_id, params=[self.Param(k, _text(v, 500))
                                                  for k, v in params.items()])
        else:
            run_id = had.info.run_id
        tags = {STATUS_TAG: node.status.value, "recursor.parent": node.parent_id,
                "proposer": node.idea.proposer if node.idea else "",
                "mlflow.note.content": _text(_node_note(node))}
        if not node.status.final:
            self._send(run_id, [], tags)
            return
        # a decided node: everything it measured, then its status tag, which says it is all
        # there (the points are stamped with when they were measured: sent twice, kept once)
        self._artifacts(run_id, node)
        self.client.set_terminated(run_id, MLFLOW_STATUS[node.status],
                                   end_time=_ms(node.decided_at))
        self._send(run_id, list(self._measured(node)), tags)

    def _measured(self, node: Node) -> Iterable[Any]:
        at = node.decided_at
        for name in sorted({e.evaluation for e in node.evaluations}):
            mean = node.mean(name, self.seeds)
            if mean is not None:
                yield self._point(name, mean, at, 0)
        for ev in node.evaluations:
            if ev.status is EvalStatus.OK and ev.value is not None:
                yield self._point(f"{_key(ev.evaluation)}/seed_{ev.seed}", ev.value,
                                  ev.finished_at, 0)
            if ev.seconds is not None:
                yield self._point(f"seconds/{_key(ev.evaluation)}/seed_{ev.seed}", ev.seconds,
                                  ev.finished_at, 0)
            # the decisive evaluation's curves as curve/<quantity>/seed_<n>; a held-out
            # evaluation's (its own training run) under curve/<evaluation>/...
            prefix = "curve/" + ("" if ev.evaluation == self.metric else f"{_key(ev.evaluation)}/")
            for i, point in enumerate(self.run.curve(ev.id)):
                step = point.get("step", i)
                step = int(step) if isinstance(step, int | float) else i
                for k, v in point.items():
                    if k not in _POSITIONS and _number(v):
                        yield self._point(f"{prefix}{_key(k)}/seed_{ev.seed}", v,
                                          ev.finished_at or at, step)
        test = node.verdict if isinstance(node.verdict, ConfirmVerdict) else None
        if test is None:
            return
        for k, x in (("effect", test.effect), ("p_value", test.p_value)):
            if _number(x):
                yield self._point(f"verdict/{k}", x, at, 0)
        ci = test.ci95 or ()
        if len(ci) == 2 and all(_number(c) for c in ci):
            yield self._point("verdict/ci95_lo", ci[0], at, 0)
            yield self._point("verdict/ci95_hi", ci[1], at, 0)

    def _artifacts(self, run_id: str, node: Node) -> None:
        diff = self.run.path(node.diff_path)
        if diff is not None and diff.is_file():
            self.client.log_text(run_id, diff.read_text(), "step.patch")
        if node.findings or node.verdict:
            verdict = node.verdict.to_json() if node.verdict else None
            self.client.log_dict(run_id, {"verdict": verdict, "reason": node.reason,
                                          "findings": [f.to_dict() for f in node.findings]},
                                 "verdict.json")

    # -- sending --------------------------------------------------------------------------------

    def _point(self, key: str, value: float, at: float | None, step: int) -> Any:
        return self.Metric(key, float(value), _ms(at), int(step))

    def _send(self, run_id: str, metrics: list[Any], tags: dict[str, Any]) -> None:
        """Metrics in batches, the tags with the last one: a node's status tag lands only after
        all it measured, so an interrupted call is redone whole by the next."""
        tag_list = [self.RunTag(k, _text("" if v is None else v)) for k, v in tags.items()]
        batches = [metrics[i:i + _BATCH] for i in range(0, len(metrics), _BATCH)] or [[]]
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            self.client.log_batch(run_id, metrics=batch, tags=tag_list if last else [])


# -- helpers ------------------------------------------------------------------------------------


def _decided(nodes: list[Node]) -> list[Node]:
    return sorted((n for n in nodes if n.status.final and n.decided_at),
                  key=lambda n: (n.decided_at, n.id))


def _last_decided(nodes: list[Node]) -> float | None:
    decided = _decided(nodes)
    return decided[-1].decided_at if decided else None


def _node_note(node: Node) -> str:
    idea = node.idea
    parts = [f"**{node.title}** ({node.status.value})"]
    if idea is not None:
        for label, text in (("Hypothesis", idea.hypothesis), ("Rationale", idea.rationale),
                            ("Why this parent", idea.reason), ("Source", idea.source)):
            if text:
                parts.append(f"{label}: {text.strip()}")
    if node.reason:
        parts.append(f"Verdict: {node.reason}")
    return "\n\n".join(parts)


def _top_note(report: dict[str, Any], metric: str) -> str:
    best, base = report.get("best") or {}, report.get("baseline") or {}
    counts = report.get("counts") or {}
    line = f"recursor run of `{report.get('task')}` ({report.get('status')}): "
    if base.get("mean") is not None:
        line += f"baseline {metric} {base['mean']:.4f}"
    if best.get("mean") is not None and best.get("node") != base.get("node"):
        line += f", best {best['mean']:.4f} (node {best['node']}, {best['improvement_pct']:+.2f}%)"
    line += "; " + ", ".join(f"{v} {k.replace('_', '-')}" for k, v in counts.items())
    return line


def _ms(t: float | None) -> int:
    import time

    return int((t if t is not None else time.time()) * 1000)


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x == x  # not NaN


def _key(name: str) -> str:
    """A metric key MLflow accepts: letters, digits and _ - . : / and spaces."""
    return re.sub(r"[^A-Za-z0-9_\-.:/ ]", "_", name)


def _text(value: Any, limit: int = _TEXT) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
