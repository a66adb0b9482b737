"""Which failed experiments an LLM researcher repairs, and how repairs chain.

A repair is an idea whose `source` is "repair of node N": the model was given its own patch and
the error of node N, and answered a corrected patch for the same idea. Repairs are read from
the tree itself, so a resumed run knows them.
"""

from __future__ import annotations

from collections.abc import Sequence

from recursor.store.records import Node, NodeStatus

REPAIR_TAG = "repair of node "
# blocking findings that say the output is wrong, not that a rule was broken: repaired like a crash
REPAIRABLE_CHECKS = frozenset({"kernel.correctness", "kernel.second-shape"})


def broken_by_its_code(node: Node) -> bool:
    """A node whose implementation is at fault, not its idea's honesty: it failed (a crash, a
    compile error), or the task's correctness check rejected its output. A rejection for
    breaking the rules is never sent back for 'repair': that would teach evasion."""
    if node.status is NodeStatus.FAILED:
        return True
    return node.status is NodeStatus.REJECTED and any(
        f.blocking and f.check in REPAIRABLE_CHECKS for f in node.findings) and all(
        f.check in REPAIRABLE_CHECKS for f in node.findings if f.blocking)


def repair_chain(node: Node, nodes: Sequence[Node]) -> set[int]:
    """`node` and the failed attempts it repairs, back to the original idea (the lowest id);
    its size less one is how many repairs led to `node`."""
    by_id = {n.id: n for n in nodes}
    chain: set[int] = set()
    while node is not None and node.id not in chain:
        chain.add(node.id)
        source = node.idea.source if node.idea else ""
        node = (by_id.get(int(source.removeprefix(REPAIR_TAG)))
                if source.startswith(REPAIR_TAG) else None)
    return chain
