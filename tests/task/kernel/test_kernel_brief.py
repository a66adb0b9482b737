"""What an LLM researcher or a coding agent is told about a kernel task: the kernel rules (not
the training task's), the candidate's code, and how to use the read-only ckernel helper."""

from __future__ import annotations

from recursor.proposer.base import ProposalContext
from recursor.proposer.brief import task_brief
from recursor.store import RunStore
from recursor.store.records import NodeStatus
from recursor.task import load_task


def brief_for(name: str, tmp_path) -> str:
    task = load_task(name)
    store = RunStore.create(tmp_path / "run", {"task": name})
    base = store.add_node(None, None, task.program_files())
    store.decide(base.id, NodeStatus.ACCEPTED, "baseline")
    nodes = tuple(store.nodes())
    try:
        return task_brief(ProposalContext(task=task, parent=nodes[0],
                                          parent_files=store.files(nodes[0]), lineage=nodes,
                                          nodes=nodes, seed=0))
    finally:
        store.close()


def test_a_kernel_brief_has_the_kernel_rules_and_the_helpers_documentation(tmp_path):
    text = brief_for("kernel-softmax", tmp_path)
    assert "ModelNew keeps Model's constructor" in text
    assert "from its command line" not in text  # the training task's rule
    assert "class ModelNew" in text  # the editable solution, whole
    assert "ckernel.py (read-only; its documentation)" in text
    assert 'lib = ckernel.compile(' in text
    # the helper's example is another operation: the brief says so, and what to compute instead
    assert "example computes GELU" in text and "reference.py's Model.forward computes" in text


def test_the_training_task_keeps_its_own_rules(tmp_path):
    text = brief_for("tiny-lm", tmp_path)
    assert "from its command line" in text and "ModelNew" not in text
