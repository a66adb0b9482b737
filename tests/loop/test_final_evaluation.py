"""A final held-out evaluation is read once, after the search, on the best node and the
baseline only: nothing the search decided could have looked at it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import recursor
from recursor.errors import TaskError
from recursor.store import RunStore
from recursor.task import load_task

TINY_LM = Path(recursor.__file__).parent / "task" / "builtin" / "tiny_lm"
HELD_OUT = 'name = "wikitext2_bpb"\nheld_out = true\n'


def final_copy(tmp_path: Path, extra: str = "final = true\n") -> Path:
    """tiny-lm, whose held-out corpus is read once at the end instead of on every accept."""
    task = tmp_path / "tiny-lm-final"
    shutil.copytree(TINY_LM, task, ignore=shutil.ignore_patterns("__pycache__"))
    toml = task / "task.toml"
    text = toml.read_text()
    assert HELD_OUT in text
    toml.write_text(text.replace(HELD_OUT, HELD_OUT + extra))
    return task


def test_final_needs_a_held_out_evaluation(tmp_path):
    task = final_copy(tmp_path)
    toml = task / "task.toml"
    toml.write_text(toml.read_text().replace(HELD_OUT + "final = true\n",
                                             'name = "wikitext2_bpb"\nheld_out = false\n'
                                             "final = true\n"))
    with pytest.raises(TaskError, match="final = true needs held_out = true"):
        load_task(task)


@pytest.mark.slow
def test_the_final_evaluation_runs_once_after_the_search(tmp_path, small):
    task = final_copy(tmp_path)
    run = recursor.run(task, run_dir=tmp_path / "run", experiments=3, workers=1, seed=0,
                       overrides=small, discoveries=False)
    store = RunStore.open(run.run_dir, readonly=True)
    try:
        nodes = store.nodes()
        final = store.meta()["final"]
        events = [e["message"] for e in store.events(1000) if e["kind"] == "final"]
    finally:
        store.close()
    accepted = [n for n in nodes if n.status == "accepted" and not n.is_baseline]
    assert accepted, "the small budget's first ideas are accepted (block_size 32 at seed 0)"
    best = min(accepted, key=lambda n: n.mean("val_bpb", (1, 2)))
    baseline = next(n for n in nodes if n.is_baseline)
    held = {n.id: [e for e in n.evaluations if e.evaluation == "wikitext2_bpb"] for n in nodes}
    # the best node and the baseline only, on the task's first two seeds
    assert {i for i, evs in held.items() if evs} == {best.id, baseline.id}
    assert sorted(e.seed for e in held[best.id]) == [1, 2]
    # after every decision of the search
    last_decision = max(n.decided_at for n in nodes if n.decided_at)
    assert min(e.started_at for evs in held.values() for e in evs) >= last_decision
    [verdict] = final
    assert verdict["evaluation"] == "wikitext2_bpb" and verdict["node"] == best.id
    assert len(verdict["gains"]) == 2 and verdict["verdict"] in ("better", "worse", "not shown")
    assert events and f"node {best.id} vs baseline" in events[0]
    # and the report says it, beside the run's result
    from recursor.report.render import headline

    assert any(line.startswith(f"final wikitext2_bpb: node {best.id} vs baseline")
               for line in headline(recursor.open_run(run.run_dir).report()))
    # resuming a finished run does not evaluate again
    before = sum(len(evs) for evs in held.values())
    recursor.resume(run.run_dir)
    store = RunStore.open(run.run_dir, readonly=True)
    try:
        again = sum(1 for n in store.nodes() for e in n.evaluations
                    if e.evaluation == "wikitext2_bpb")
    finally:
        store.close()
    assert again == before
