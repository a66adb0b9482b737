"""The run report as data: what `recursor report --json` prints and every other view is drawn from.

Stable keys (other tools read them; add more freely, never rename): `task`, `status`,
`metric` {name, direction}, `baseline` {node, mean, std, n}, `best` {node, mean, std, n,
improvement_pct, ci95}, `counts` {experiments, accepted, rejected, failed, stopped_early},
`nodes` [{id, parent, title, status, proposer, seeds, mean, patch, audit, heldout, flagged,
vs_parent, why, vs_baseline_pct}],
`wall_seconds`, `sandbox` {kind, describe}, `false_accept_bound`, `proposers` {name: {tried,
accepted, calls, tokens, cost, cost_per_accepted}}, `diversity` (see report.diversity).

`improvement_pct` is positive when better; `best.ci95` is the 95% interval of that percentage,
from the paired per-seed differences between the best node and the baseline. A node's `mean` is
over the task's seeds only (confirmation seeds are for the paired test). `heldout` gives each
held-out evaluation's mean and its gain over the baseline in percent, beside the public gain
(`gain_pct`): the generalisation gap. `false_accept_bound` is the expected number of noise
candidates accepted in this run, at most: alpha times the confirmation tests it ran.

`gain_pct` compares a node's mean on the task's seeds with the baseline's, whatever the node's
status: for a rejected node that is its screening seed alone. What the tables print instead is
the node's row (recursor.report.rows): `vs_parent` (its effect against its parent, the seed
pairs behind it, and its text), `why` {kind, label, detail}, and `vs_baseline_pct`, set for
accepted nodes only.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from recursor.judge.stats import mean_ci95
from recursor.loop.config import RunConfig
from recursor.loop.lock import is_driven
from recursor.loop.overhead import engine_summary
from recursor.loop.snapshot import run_task_snapshot
from recursor.report.diversity import diversity
from recursor.report.rows import NodeRow, node_rows
from recursor.store import ConfirmVerdict, EvalStatus, Node, NodeStatus, RunStore
from recursor.value import calibration


def run_status(store: RunStore) -> str:
    if store.meta().get("finished_at"):
        return "finished"
    return "running" if is_driven(store.run_dir) else "interrupted"


def wall_seconds(store: RunStore) -> float:
    total = 0.0
    for s in store.sessions():
        end = s["ended_at"] or s["heartbeat_at"]
        if s["ended_at"] is None and is_driven(store.run_dir):
            end = time.time()
        total += end - s["started_at"]
    return total


def lineage(nodes: dict[int, Node], node: Node) -> list[int]:
    chain = [node.id]
    while nodes[chain[-1]].parent_id is not None:
        chain.append(nodes[chain[-1]].parent_id)
    return list(reversed(chain))


def table_rows(store: RunStore) -> list[NodeRow]:
    """Every node's row of the report's tables (recursor.report.rows), from the run's store."""
    return spec_rows({n.id: n for n in store.nodes()}, run_task_snapshot(store).spec)


def spec_rows(nodes: dict[int, Node], spec: Any) -> list[NodeRow]:
    """The rows of `nodes` under the task's settings (`spec`, a TaskSpec)."""
    return node_rows(nodes, spec.metric.name, spec.minimize, list(spec.seeds.values),
                     spec.limits.timeout_seconds, spec.metric.min_effect)


def build_report(store: RunStore) -> dict[str, Any]:
    meta = store.meta()
    config = RunConfig.from_json(meta["config"])
    spec = run_task_snapshot(store).spec
    metric, minimize = spec.metric.name, spec.minimize
    seeds = list(spec.seeds.values)
    nodes = {n.id: n for n in store.nodes()}
    baseline = next((n for n in nodes.values() if n.is_baseline), None)

    counts = {"experiments": 0, "accepted": 0, "rejected": 0, "failed": 0, "stopped_early": 0,
              "running": 0}
    for n in nodes.values():
        if not n.is_baseline:
            counts["experiments"] += 1
            counts[n.status.value.replace("-", "_")] += 1

    def summary(node: Node | None) -> dict[str, Any] | None:
        if node is None:
            return None
        return {"node": node.id, "mean": node.mean(metric, seeds),
                "std": node.std(metric, seeds), "n": len(node.values(metric, seeds))}

    best_node = baseline
    if baseline is not None and baseline.status is NodeStatus.ACCEPTED:
        sign = 1 if minimize else -1
        decided = [n for n in nodes.values() if n.status is NodeStatus.ACCEPTED]
        best_node = min(decided, key=lambda n: (sign * n.mean(metric, seeds), -n.id))
    best = summary(best_node)
    rows = {r.id: r for r in spec_rows(nodes, spec)}
    if best is not None and baseline is not None:
        best.update(_gain_over(baseline, best_node, metric, minimize, seeds))
        best["lineage"] = lineage(nodes, best_node)

    return {
        "task": meta["task"],
        "run_dir": str(store.run_dir),
        "status": run_status(store),
        "end_reason": meta.get("end_reason"),
        "metric": {"name": metric, "direction": spec.metric.direction, "unit": spec.metric.unit},
        "config": config.to_json(),
        "seeds": seeds,
        "baseline": summary(baseline),
        "best": best,
        "counts": counts,
        "nodes": [{**_node_entry(store, n, metric, seeds, baseline, minimize,
                                 [e.name for e in spec.evaluations if e.held_out]),
                   **rows[n.id].to_json()}
                  for n in nodes.values()],
        "wall_seconds": round(wall_seconds(store), 1),
        "sandbox": meta.get("sandbox"),
        # the final evaluations' verdicts (recursor.loop.final), once the run has them
        "final": meta.get("final"),
        "false_accept_bound": round(sum(
            n.verdict.alpha for n in nodes.values() if isinstance(n.verdict, ConfirmVerdict)), 3),
        "proposers": _proposers(store, list(nodes.values())),
        "diversity": diversity(list(nodes.values())),
        "value": _value(store, config, spec, list(nodes.values())),
        "discoveries": _discoveries(config, list(nodes.values())),
        "engine": engine_summary(meta.get("engine"), wall_seconds(store),
                                 counts["experiments"] - counts["running"],
                                 sum(1 for n in nodes.values() for e in n.evaluations
                                     if e.status in (EvalStatus.OK, EvalStatus.FAILED))),
    }


def _value(store: RunStore, config: RunConfig, spec: Any, nodes: list[Node]) -> dict[str, Any]:
    """What the value function did in the run: stops, audits, calibration."""
    if not config.early_stop or not spec.metric.curve:
        why = "off for this run" if not config.early_stop else "the task streams no curve"
        return {"enabled": False, "why": why}
    found = calibration.summary(store.predictions(), nodes, spec.minimize)
    return {"enabled": True, "risk": config.stop_risk, "test_risk": config.stop_test_risk,
            "audit": config.stop_audit, **found}


def _discoveries(config: RunConfig, nodes: list[Node]) -> dict[str, Any]:
    """The discovery library in this run: where, and which accepted steps came from it."""
    if not (config.discoveries and config.discoveries_dir):
        return {"enabled": False}
    from_library = [{"node": n.id, "title": n.title, "discovery": n.idea.key.split(":", 1)[1]}
                    for n in nodes if n.status is NodeStatus.ACCEPTED and n.idea
                    and n.idea.key.startswith("discovery:")]
    tried = sum(1 for n in nodes if n.idea and n.idea.key.startswith("discovery:"))
    return {"enabled": True, "location": config.discoveries_dir, "tried": tried,
            "accepted_from_library": from_library}


def _proposers(store: RunStore, nodes: list[Node]) -> dict[str, dict[str, Any]]:
    """Who proposed what, what it cost, and the cost of each accepted improvement."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"tried": 0, "accepted": 0, "calls": 0, "tokens": 0, "cost": 0.0,
                 "repeats": 0, "outcomes": {}})
    for n in nodes:
        if n.idea is None:
            continue
        row = out[n.idea.proposer]
        row["tried"] += 1
        row["accepted"] += n.status is NodeStatus.ACCEPTED
    for c in store.calls():
        row = out[c.proposer]
        row["calls"] += 1
        row["tokens"] += c.input_tokens + c.output_tokens
        row["cost"] += c.cost
        row["outcomes"][c.outcome] = row["outcomes"].get(c.outcome, 0) + 1
        # an answer that proposed what the run had tried or refused already
        row["repeats"] += c.outcome in ("duplicate", "repeat")
    for row in out.values():
        row["cost"] = round(row["cost"], 6)
        row["cost_per_accepted"] = (round(row["cost"] / row["accepted"], 6) if row["accepted"]
                                    else None)
    return dict(out)


def _gain_over(baseline: Node, best: Node, metric: str, minimize: bool,
               seeds: list[int]) -> dict[str, Any]:
    base_vals, best_vals = baseline.values(metric, seeds), best.values(metric, seeds)
    base_mean = baseline.mean(metric, seeds)
    if best.id == baseline.id or not base_mean:
        return {"improvement_pct": 0.0, "ci95": None, "effect": 0.0}
    shared = [s for s in seeds if s in base_vals and s in best_vals]
    sign = 1 if minimize else -1
    gains = [sign * (base_vals[s] - best_vals[s]) for s in shared]
    effect = sum(gains) / len(gains)
    ci = mean_ci95(gains)
    scale = 100 / abs(base_mean)
    return {
        "improvement_pct": effect * scale,
        "ci95": [ci[0] * scale, ci[1] * scale] if ci else None,
        "effect": effect,
        "effect_ci95": list(ci) if ci else None,
    }


def _pct_gain(base: float | None, value: float | None, minimize: bool) -> float | None:
    if base is None or value is None or not base:
        return None
    return 100 * ((base - value) if minimize else (value - base)) / abs(base)


def _node_entry(store: RunStore, node: Node, metric: str, seeds: list[int],
                baseline: Node | None, minimize: bool, heldout: list[str]) -> dict[str, Any]:
    values = node.values(metric, seeds)
    base_mean = baseline.mean(metric, seeds) if baseline else None
    held = {}
    for name in heldout:
        mine = node.values(name)
        if not mine or baseline is None:
            continue
        theirs = baseline.values(name)
        common = [s for s in mine if s in theirs]
        mean = sum(mine.values()) / len(mine)
        base = sum(theirs[s] for s in common) / len(common) if common else None
        held[name] = {"mean": mean, "seeds": sorted(mine),
                      "gain_pct": _pct_gain(base, sum(mine[s] for s in common) / len(common)
                                            if common else None, minimize)}
    idea = node.idea
    failed = [e for e in node.evaluations if e.status.value == "failed"]
    return {
        "id": node.id,
        "parent": node.parent_id,
        "title": node.title,
        "status": node.status.value,
        "proposer": idea.proposer if idea else "baseline",
        "category": idea.category if idea else None,
        "idea_key": idea.key if idea else None,
        "seeds": [values[s] for s in seeds if s in values],
        "seed_values": {str(s): values[s] for s in seeds if s in values},
        "mean": node.mean(metric, seeds),
        "gain_pct": _pct_gain(base_mean, node.mean(metric, seeds), minimize),
        "heldout": held,
        "audit": [f.to_dict() for f in node.findings],
        "flagged": sorted({f.check for f in node.findings
                           if f.blocking or f.check.startswith("held-out.")}),
        "patch": str(store.path(node.patch_path)) if node.patch_path else None,
        "diff": str(store.path(node.diff_path)) if node.diff_path else None,
        "reason": node.reason,
        "verdict": node.verdict.to_json() if node.verdict else None,
        "failures": [{"seed": e.seed, "reason": e.reason} for e in failed],
        "seconds": round(sum(e.seconds or 0 for e in node.evaluations), 1),
    }
