"""Accepted nodes of a run, turned into discoveries (recursor.discoveries.records)."""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recursor.discoveries.records import Discovery, discovery_id, program_hash
from recursor.discoveries.store import DiscoveryLibrary
from recursor.patch.diff import unified_diff
from recursor.store import Node, NodeStatus, RunStore


class Harvester:
    """Writes a run's accepted nodes to a library; program hashes are cached (files never
    change once a node exists)."""

    def __init__(self, store: RunStore, library: DiscoveryLibrary, metric: str, minimize: bool,
                 overrides: Mapping[str, Any] | None = None):
        self.store, self.library = store, library
        self.metric, self.minimize = metric, minimize
        self.overrides = dict(overrides or {})
        self._files: dict[int, dict[str, str]] = {}

    def _program(self, node: Node) -> dict[str, str]:
        if node.id not in self._files:
            self._files[node.id] = self.store.files(node)
        return self._files[node.id]

    def _hash(self, node: Node) -> str:
        return program_hash(self._program(node))

    def discovery_of(self, node: Node, nodes: Mapping[int, Node]) -> Discovery:
        """The record of an accepted node (see records.Discovery)."""
        lineage = [node]
        while lineage[-1].parent_id is not None:
            lineage.append(nodes[lineage[-1].parent_id])
        lineage.reverse()  # baseline first
        baseline, parent = lineage[0], lineage[-2]
        ids = [discovery_id(self._hash(baseline), self._hash(p), self._hash(n))
               for p, n in zip(lineage, lineage[1:], strict=False)]
        idea = node.idea
        patch = self.store.path(node.patch_path)
        return Discovery(
            id=ids[-1], created_at=node.decided_at or time.time(),
            task=self.store.meta()["task"], task_fingerprint=self._hash(baseline),
            metric=self.metric, minimize=self.minimize,
            title=idea.title if idea else node.title, hypothesis=idea.hypothesis if idea else "",
            rationale=idea.rationale if idea else "", source=idea.source if idea else "",
            category=idea.category if idea else "other", key=idea.key if idea else "",
            proposer=idea.proposer if idea else "",
            patch=patch.read_text() if patch is not None and patch.exists() else "",
            parent_fingerprint=self._hash(parent), program_fingerprint=self._hash(node),
            depth=len(lineage) - 1, builds_on=tuple(ids[:-1]),
            evidence=self._evidence(node, parent),
            origin={"run": str(self.store.run_dir.resolve()), "node": node.id,
                    "parent_node": parent.id, "machine": platform.node(),
                    "arch": platform.machine(), "recursor": _version(), "at": time.time()},
            overrides=self.overrides,
        )

    def _evidence(self, node: Node, parent: Node) -> dict[str, Any]:
        mine, theirs = node.values(self.metric), parent.values(self.metric)
        seeds = sorted(set(mine) & set(theirs))
        held_out: dict[str, dict[str, float]] = {}
        for e in node.evaluations:
            if e.evaluation != self.metric and e.value is not None:
                held_out.setdefault(e.evaluation, {})[str(e.seed)] = e.value
        parent_held: dict[str, dict[str, float]] = {}
        for e in parent.evaluations:
            if e.evaluation in held_out and e.value is not None:
                parent_held.setdefault(e.evaluation, {})[str(e.seed)] = e.value
        return {
            # as stored in the run: the library is plain JSON, read by other recursor versions
            "verdict": node.verdict.to_json() if node.verdict else {},
            "reason": node.reason,
            "seeds": {str(s): {"node": mine[s], "parent": theirs[s]} for s in seeds},
            "held_out": {name: {"node": v, "parent": parent_held.get(name, {})}
                         for name, v in held_out.items()},
            "findings": [f.to_dict() for f in node.findings],
        }

    def add(self, node: Node, nodes: Mapping[int, Node]) -> Discovery | None:
        """Write an accepted node to the library; the discovery, or None if it was there."""
        if node.status is not NodeStatus.ACCEPTED or node.is_baseline:
            return None
        d = self.discovery_of(node, nodes)
        parent = nodes[node.parent_id]
        baseline = nodes[_root(node, nodes)]
        files = {"patch.txt": d.patch,
                 "baseline.diff": unified_diff(self._program(baseline), self._program(node))}
        task_dir = self.store.run_dir / "task"
        added = self.library.add(d, files, task_dir if task_dir.is_dir() else None,
                                 self._program(parent))
        return d if added else None


def _root(node: Node, nodes: Mapping[int, Node]) -> int:
    while node.parent_id is not None:
        node = nodes[node.parent_id]
    return node.id


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("recursor")
    except PackageNotFoundError:
        return "unknown"


def harvest_run(run_dir: Path | str, library: DiscoveryLibrary) -> list[Discovery]:
    """Write every accepted node of a finished (or running) run to `library`: what
    `recursor library add RUN` does for runs made before the library, or with it turned off."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        from recursor.task import load_task

        config = store.meta()["config"]
        task = load_task(store.run_dir / "task", config.get("overrides", {}))
        h = Harvester(store, library, task.spec.metric.name, task.spec.minimize,
                      config.get("overrides", {}))
        nodes = {n.id: n for n in store.nodes()}
        return [d for n in sorted(nodes.values(), key=lambda n: n.decided_at or 0)
                if (d := h.add(n, nodes)) is not None]
    finally:
        store.close()
