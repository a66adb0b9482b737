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
