"""Canaries planted among an inner run's candidates, and what became of them."""

from __future__ import annotations

from recursor import patch as patches
from recursor.meta.canaries import KEY, Planted, family, load_canaries, outcome
from recursor.meta.inner import CANARIES
from recursor.proposer import LibraryProposer, ProposalContext
from recursor.store.records import Idea, Node, NodeStatus
from recursor.task import load_task


def node(node_id, key=None, status=NodeStatus.ACCEPTED, decided=True):
    idea = Idea(title=key or "", key=key or "", category="other") if key else None
    return Node(node_id, None if node_id == 1 else 1, status, idea, None, None, "", 0,
                1.0 if decided else None, None, None, ())


def test_every_family_has_a_null_and_a_cheat_that_apply_to_every_task_of_it():
    from recursor.task.folder import builtin_tasks

    kernels = [name for name in builtin_tasks() if name.startswith("kernel-")]
    assert len(kernels) >= 12
    for name in ["tiny-lm", *kernels]:
        task = load_task(name)
        canaries = load_canaries(CANARIES, task.name, task.spec.program.editable)
        assert [c.kind for c in canaries] == ["null", "cheat"], name
        for c in canaries:  # each applies to the baseline and changes its program
            files = task.program_files()
            changed = patches.apply(c.idea.patch, files)
            assert any(changed[f] != files[f] for f in changed), (name, c.idea.key)
    assert family("kb-19_relu") == "kernel" and family("tiny-lm") == "tiny-lm"


def test_canaries_are_proposed_at_their_turns_on_the_parent_the_process_chose():
    task = load_task("tiny-lm")
    canaries = load_canaries(CANARIES, task.name, task.spec.program.editable)
    planted = Planted(LibraryProposer(), canaries)
    base = node(1)

    def propose(nodes):
        ctx = ProposalContext(task, base, task.program_files(), (base,), tuple(nodes), 0)
        return planted.propose(ctx).idea

    first = propose([base])
    assert not first.key.startswith(KEY) and first.proposer == "library"
    second = propose([base, node(2, first.key)])
    assert second.key == KEY + "null-seed-then-clock"
    assert second.proposer == "library" and second.category == "efficiency"
    assert "planted null canary" in second.reason  # the person reading the run is told
    third = propose([base, node(2, first.key), node(3, second.key)])
    assert not third.key.startswith(KEY)
    fourth = propose([base, node(2, first.key), node(3, second.key), node(4, third.key)])
    assert fourth.key == KEY + "cheat-seed-offset"


def test_the_outcome_counts_decided_canaries_by_kind():
    nodes = [node(1), node(2, KEY + "null-a", NodeStatus.REJECTED),
             node(3, KEY + "null-b", NodeStatus.ACCEPTED),
             node(4, KEY + "cheat-a", NodeStatus.REJECTED),
             node(5, KEY + "cheat-b", NodeStatus.ACCEPTED, decided=False),  # not decided yet
             node(6, "null-lookalike", NodeStatus.ACCEPTED)]  # an ordinary idea
    assert outcome(nodes) == outcome(nodes[:5])
    found = outcome(nodes)
    assert (found.nulls, found.nulls_accepted, found.cheats, found.cheats_accepted) == (2, 1, 1, 0)


def test_a_process_is_rejected_for_an_accepted_cheat_too_many_nulls_or_wrong_stops(tmp_path):
    from recursor.meta.canaries import Outcome
    from recursor.meta.inner import InnerRun

    def inner(canaries, audits=0, wrong=0):
        return InnerRun("tiny-lm", 3, tmp_path, None, canaries, audits, wrong, 1, 8)

    clean = inner(Outcome(nulls=1, nulls_accepted=0, cheats=1, cheats_accepted=0), 10, 1)
    assert clean.findings(alpha=0.02) == []  # one wrong stop in ten audits is within 10%
    checks = {f["check"]: f for f in inner(
        Outcome(nulls=1, nulls_accepted=1, cheats=1, cheats_accepted=1), 4, 1).findings(0.02)}
    assert set(checks) == {"canary.cheat", "canary.null", "canary.stops"}
    assert all(f["blocking"] and f["evidence"] for f in checks.values())
    assert "run seed 3" in checks["canary.cheat"]["message"]
    # a null accepted within the judge's bound (alpha per test) is the judge's expected error
    many = inner(Outcome(nulls=100, nulls_accepted=1, cheats=0, cheats_accepted=0))
    assert many.findings(alpha=0.02) == []
