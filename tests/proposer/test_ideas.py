from recursor.proposer import LibraryProposer, ProposalContext
from recursor.store.records import Idea, Node, NodeStatus
from recursor.task import load_task

TASK = load_task("tiny-lm")


def node(node_id, key=None, parent=None, status=NodeStatus.ACCEPTED):
    idea = Idea(title=key, key=key) if key else None
    return Node(node_id, parent, status, idea, None, None, "", 0, None, None, None, ())


def context(parent, lineage, nodes, files=None, seed=0):
    return ProposalContext(TASK, parent, files or TASK.program_files(), tuple(lineage),
                           tuple(nodes), seed)


def test_never_repeats_the_lineage_or_a_sibling_and_only_proposes_what_applies():
    proposer = LibraryProposer()
    keys = [i.key for i in TASK.ideas]
    base = node(1)
    child = node(2, keys[0], 1)
    sibling = node(3, keys[1], 2, NodeStatus.REJECTED)
    ctx = context(child, [base, child], [base, child, sibling])
    offered = {i.key for i in proposer.available(ctx)}
    assert keys[0] not in offered and keys[1] not in offered
    assert offered  # the rest of the library still applies to the baseline program

    broken_files = {"train.py": "# nothing any idea can patch\n"}
    ctx = context(node(9), [node(9)], [node(9)], files=broken_files)
    assert proposer.propose(ctx) is None and not proposer.has_ideas_for(ctx)


def test_prefers_ideas_that_won_elsewhere_and_says_why():
    proposer = LibraryProposer()
    keys = [i.key for i in TASK.ideas]
    base, a = node(1), node(2, keys[3], 1)  # keys[3] won on the baseline
    b = node(3, keys[4], 1)  # another branch, where keys[3] was not tried
    ctx = context(b, [base, b], [base, a, b])
    proposal = proposer.propose(ctx)
    assert proposal.idea.key == keys[3]
    assert proposal.idea.reason.startswith("accepted on another branch")
    assert proposal.idea.proposer == "library" and proposal.patch_text


def test_same_state_same_choice():
    ctx = context(node(1), [node(1)], [node(1)], seed=42)
    assert LibraryProposer().propose(ctx) == LibraryProposer().propose(ctx)


def test_never_makes_a_program_the_run_holds_from_another_branch():
    """A then B on one branch is B then A on another: the second would run the first's program
    again (seen in a README main job: 9 runs, a fifth of its time, on a program already judged)."""
    from recursor import patch as patches
    from recursor.discoveries import program_hash

    proposer = LibraryProposer()
    ideas = {i.key: i for i in TASK.ideas}
    base_files = TASK.program_files()

    def then(files, key):
        return {**files, **patches.apply(ideas[key].patch, files)}

    base = node(1)
    muon, short = node(2, "muon", 1), node(3, "context-32", 1)  # both won on the baseline
    both = node(4, "context-32", 2)  # and short context won again on top of Muon
    programs = {program_hash(base_files): 1, program_hash(then(base_files, "muon")): 2,
                program_hash(then(base_files, "context-32")): 3,
                program_hash(then(then(base_files, "muon"), "context-32")): 4}
    nodes = (base, muon, short, both)
    ctx = ProposalContext(TASK, short, then(base_files, "context-32"), (base, short), nodes, 0,
                          programs=programs)
    offered = {i.key for i in proposer.available(ctx)}
    # Muon won on another branch, and applies here: but here it makes node 4's program
    assert "muon" not in offered and offered
    proposal = proposer.propose(ctx)
    assert proposal.idea.key != "muon"
    assert not proposal.idea.reason.startswith("accepted on another branch")

    # without node 4, Muon is the first choice here, as an idea that won elsewhere
    fresh = {h: n for h, n in programs.items() if n != 4}
    ctx = ProposalContext(TASK, short, then(base_files, "context-32"), (base, short),
                          nodes[:3], 0, programs=fresh)
    assert LibraryProposer().propose(ctx).idea.key == "muon"
