"""The discovery library with real runs of `tiny-lm`: kept on accept, tried first by the next
run, reproduced on fresh seeds, exported as reports whose patches apply to the baseline."""

from __future__ import annotations

import subprocess

import pytest

import recursor
from recursor import patch as patches
from recursor.discoveries import DiscoveryLibrary
from recursor.loop.trial import GivenPatch, GivenPatches
from recursor.store import NodeStatus
from recursor.task import load_task

pytestmark = pytest.mark.slow

# at the tests' small budget (a few optimiser steps) a 10x learning rate is a large, sure win
WIN = ("train.py\n<<<<<<< SEARCH\nlearning_rate = 1e-3\n=======\nlearning_rate = 1e-2\n"
       ">>>>>>> REPLACE\n")


def first_run(root, lib, small):
    return recursor.run("tiny-lm", run_dir=root / "run1", workers=2, overrides=small,
                        heldout=False, experiments=1, discoveries_dir=lib,
                        proposer=GivenPatches([GivenPatch("ten times the learning rate", WIN)]))


def test_an_accepted_node_is_kept_and_the_next_run_tries_it_first(tmp_path, small):
    lib = tmp_path / "discoveries"
    run1 = first_run(tmp_path, lib, small)
    (node,) = [n for n in run1.nodes() if not n.is_baseline]
    assert node.status is NodeStatus.ACCEPTED, node.reason
    (d,) = DiscoveryLibrary(lib).all()
    assert d.title == "ten times the learning rate" and d.task == "tiny-lm"
    assert d.origin["node"] == node.id and d.depth == 1
    ev = d.evidence
    assert ev["verdict"]["p_value"] < 0.02 and len(ev["seeds"]) == len(node.values("val_bpb"))
    folder = DiscoveryLibrary(lib).folder(d)
    # the task folder holds the parent's program (here the baseline) to run the patch on
    assert "learning_rate = 1e-3" in (folder / "task" / "train.py").read_text()
    assert any(e["kind"] == "library" and d.short in e["message"] for e in run1.events())

    # the next run of the task, with the built-in library proposer, starts from it
    run2 = recursor.run("tiny-lm", run_dir=tmp_path / "run2", workers=2, overrides=small,
                        heldout=False, experiments=1, discoveries_dir=lib, seed=5)
    (tried,) = [n for n in run2.nodes() if not n.is_baseline]
    assert tried.idea.key == f"discovery:{d.id}"
    assert tried.idea.reason.startswith("a past discovery of this task")
    report = run2.report()
    assert report["discoveries"]["tried"] == 1
    if tried.status is NodeStatus.ACCEPTED:
        assert report["discoveries"]["accepted_from_library"][0]["node"] == tried.id
    # found again, it is the same discovery: the library still holds one
    assert len(DiscoveryLibrary(lib)) == 1

    # reproduce: the record alone, fresh seeds, the same verdict
    out = recursor.reproduce(d.id[:8], library=lib, run_dir=tmp_path / "again", workers=2,
                             heldout=False)
    assert out["holds"] is True, out["now"]["reasons"]
    assert not set(out["now"]["seeds"]) & set(out["recorded"]["seeds"])  # fresh seeds
    assert (tmp_path / "again" / "run.db").is_file()

    # export: a page per accepted step, and a patch that applies to the task's baseline
    (step,) = recursor.export(tmp_path / "run1", tmp_path / "export")
    page = (step / "README.md").read_text()
    assert "ten times the learning rate" in page and "p = " in page and "```diff" in page
    assert (step / "curves.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    baseline = load_task("tiny-lm").program_files()
    diff = (step / "from-baseline.patch").read_text()
    applied = patches.apply(patches.parse_unified(diff), baseline)
    assert "learning_rate = 1e-2" in applied["train.py"]
    task_copy = tmp_path / "task-copy"
    subprocess.run(["cp", "-r", str(load_task("tiny-lm").root), str(task_copy)], check=True)
    done = subprocess.run(["git", "apply", "--check", str(step / "from-baseline.patch")],
                          cwd=task_copy, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
