"""The discovery library on disk, and how the library proposer ranks past discoveries."""

from __future__ import annotations

import json
import time

import pytest

from recursor.discoveries import Discovery, DiscoveryLibrary, LibraryError, program_hash
from recursor.discoveries.records import discovery_id
from recursor.proposer.base import ProposalContext
from recursor.proposer.ideas import LibraryProposer
from recursor.store.records import Idea, Node, NodeStatus
from recursor.task import load_task


def discovery(task: str = "t", fingerprint: str = "f", title: str = "an idea", key: str = "",
              patch: str = "", depth: int = 1, category: str = "other", **kw) -> Discovery:
    did = discovery_id(fingerprint, f"parent-{title}", f"program-{title}")
    fields = dict(id=did, created_at=time.time(), task=task, task_fingerprint=fingerprint,
                  metric="val_bpb", minimize=True, title=title, hypothesis="h", rationale="r",
                  source="s", category=category, key=key, proposer="library", patch=patch,
                  parent_fingerprint=f"parent-{title}", program_fingerprint=f"program-{title}",
                  depth=depth, builds_on=(),
                  evidence={"verdict": {"effect": 0.05, "p_value": 0.001}})
    fields.update(kw)
    return Discovery(**fields)


def test_a_discovery_is_kept_once_and_found_by_its_id_or_a_prefix(tmp_path):
    lib = DiscoveryLibrary(tmp_path / "lib")
    assert lib.all() == [] and len(lib) == 0  # a library that does not exist yet is empty
    d = discovery()
    assert lib.add(d, {"patch.txt": "p"}) is True
    assert lib.add(d, {"patch.txt": "p"}) is False  # the same discovery found again
    assert lib.get(d.id[:6]) == d and lib.get(d.id) == d
    assert (lib.folder(d) / "patch.txt").read_text() == "p"
    assert not [p for p in lib.root.iterdir() if p.name.startswith(".")]  # no temp folder left
    with pytest.raises(LibraryError, match="no discovery 'zzz'"):
        lib.get("zzz")


def test_a_broken_folder_in_the_library_is_skipped_not_fatal(tmp_path):
    lib = DiscoveryLibrary(tmp_path)
    lib.add(discovery(title="kept"), {})
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "discovery.json").write_text("{not json")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "discovery.json").write_text(json.dumps({"id": "x"}))  # fields missing
    assert [d.title for d in lib.all()] == ["kept"]


def test_the_library_location_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RECURSOR_LIBRARY", str(tmp_path / "mine"))
    assert DiscoveryLibrary().root == tmp_path / "mine"
    monkeypatch.delenv("RECURSOR_LIBRARY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert DiscoveryLibrary().root == tmp_path / "xdg" / "recursor" / "discoveries"


def test_for_task_keeps_the_same_baseline_only(tmp_path):
    lib = DiscoveryLibrary(tmp_path)
    lib.add(discovery(task="a", fingerprint="f1", title="one"), {})
    lib.add(discovery(task="a", fingerprint="f2", title="two"), {})
    lib.add(discovery(task="b", fingerprint="f1", title="three"), {})
    assert [d.title for d in lib.for_task("a", "f1")] == ["one"]
    assert [d.title for d in lib.for_task("a")] == ["one", "two"]


# -- the library proposer ------------------------------------------------------------------


def node(nid: int, parent: int | None, idea: Idea | None = None,
         status: NodeStatus = NodeStatus.ACCEPTED) -> Node:
    return Node(id=nid, parent_id=parent, status=status, idea=idea, patch_path=None,
                diff_path=None, workspace="", created_at=0.0, decided_at=None, reason=None,
                verdict=None)


def context(task, parent: Node, nodes, past=(), other=()) -> ProposalContext:
    lineage = [n for n in nodes if n.id == 1] + ([parent] if parent.id != 1 else [])
    return ProposalContext(task=task, parent=parent, parent_files=task.program_files(),
                           lineage=tuple(lineage), nodes=tuple(nodes), seed=3,
                           past_discoveries=tuple(past), other_discoveries=tuple(other))


def test_past_discoveries_of_the_task_come_first_in_the_order_they_were_found():
    task = load_task("tiny-lm")
    ideas = {i.key: i for i in task.ideas}
    fp = program_hash(task.program_files())
    rope = discovery("tiny-lm", fp, ideas["rotary"].title, "rotary", ideas["rotary"].patch_text,
                     depth=2)
    lr = discovery("tiny-lm", fp, ideas["lr-3e-3"].title, "lr-3e-3",
                   ideas["lr-3e-3"].patch_text, depth=1)
    base = node(1, None)
    prop = LibraryProposer()
    first = prop.propose(context(task, base, [base], past=[rope, lr]))
    assert first.idea.key == f"discovery:{lr.id}"  # depth 1 before depth 2
    assert first.idea.reason.startswith("a past discovery of this task")
    assert lr.short in first.idea.source
    # once tried on this parent it is not offered again, and neither is its library idea
    tried = node(2, 1, first.idea, NodeStatus.REJECTED)
    second = prop.propose(context(task, base, [base, tried], past=[rope, lr]))
    assert second.idea.key == f"discovery:{rope.id}"
    child = node(3, 1, Idea(title="rope", key="rotary"), NodeStatus.ACCEPTED)
    after = prop.available(context(task, child, [base, tried, child], past=[rope, lr]))
    assert f"discovery:{rope.id}" not in {i.key for i in after}  # rotary is in the lineage


def test_a_discovery_of_another_task_ranks_this_tasks_ideas_like_it():
    task = load_task("tiny-lm")
    elsewhere = discovery("kernel-x", "k", "muon elsewhere", "muon", "")
    base = node(1, None)
    got = LibraryProposer().propose(context(task, base, [base], other=[elsewhere]))
    assert got.idea.key == "muon"
    assert got.idea.reason.startswith("like a discovery of another task (kernel-x)")


def test_a_run_told_to_ignore_the_library_neither_reads_nor_writes_it(tmp_path):
    from recursor.loop.config import RunConfig
    from recursor.loop.setup import create_run

    store = create_run("tiny-lm", RunConfig(experiments=1, discoveries=False), tmp_path / "off")
    assert RunConfig.from_json(store.meta()["config"]).discoveries_dir is None
    store.close()
    # on, the library's location is fixed when the run is made: a resume keeps it
    store = create_run("tiny-lm", RunConfig(experiments=1), tmp_path / "on")
    assert RunConfig.from_json(store.meta()["config"]).discoveries_dir == str(
        DiscoveryLibrary().root.resolve())
    store.close()
