"""The run's side of the discovery library: what it reads at the start, what it writes on accept.

At the start, the library's discoveries are split in two: those of this task made on the same
baseline program (the library proposer tries them first, the LLM researchers read them as steps
to adapt), and those of other tasks (suggestions). The split is made once: discoveries this run
adds are its own nodes already. Each node the judge accepts is written to the library as it is
accepted, so a run killed half-way has still kept what it proved.
"""

from __future__ import annotations

from collections.abc import Mapping

from recursor.discoveries import Discovery, DiscoveryLibrary, program_hash
from recursor.discoveries.harvest import Harvester
from recursor.store import Node, RunStore
from recursor.task import Task


class RunLibrary:
    def __init__(self, store: RunStore, task: Task, location: str, overrides: Mapping):
        self.library = DiscoveryLibrary(location)
        self.harvester = Harvester(store, self.library, task.spec.metric.name, task.spec.minimize,
                                   overrides)
        fingerprint = program_hash(task.program_files())
        found = self.library.all()
        self.past: tuple[Discovery, ...] = tuple(
            d for d in found if d.task == task.name and d.task_fingerprint == fingerprint)
        self.other: tuple[Discovery, ...] = tuple(d for d in found if d.task != task.name)

    def describe(self) -> str:
        return (f"discovery library at {self.library.root}: {len(self.past)} discoveries of this "
                f"task to try first, {len(self.other)} of other tasks as suggestions")

    def accepted(self, node: Node, nodes: Mapping[int, Node]) -> str:
        """Keep an accepted node; what happened, for the run's events. A full disk or a
        read-only library is said, never fatal: the run's own record is the store."""
        try:
            found = self.harvester.add(node, nodes)
        except OSError as err:
            return f"node {node.id}: not written to the discovery library: {err}"
        if found is None:
            return f"node {node.id}: already in the discovery library"
        return f"node {node.id} kept in the discovery library as {found.short}"
