"""Fixtures of the proposer tests."""

import pytest

from recursor.store import NodeStatus, RunStore
from recursor.task import load_task


@pytest.fixture
def run(tmp_path):
    """A real store holding the baseline of tiny-lm, and a context for it."""
    task = load_task("tiny-lm")
    store = RunStore.create(tmp_path / "run", {"task": "tiny-lm"})
    base = store.add_node(None, None, task.program_files())
    store.decide(base.id, NodeStatus.ACCEPTED, "baseline")
    yield task, store
    store.close()
