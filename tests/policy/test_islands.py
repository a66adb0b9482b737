import dataclasses
import random

from recursor.loop.config import RunConfig
from recursor.policy import POLICIES, BestFirstPolicy, IslandsPolicy, SearchView
from recursor.store.records import EvalStatus, Evaluation, Idea, Node, NodeStatus


class Tree:
    """A hand-driven run: nodes are created one at a time, each decided when the test says."""

    def __init__(self, baseline_mean=3.0):
        self.nodes: dict[int, Node] = {}
        self.clock = 0.0
        self._put(1, None, baseline_mean, NodeStatus.ACCEPTED)

    def _put(self, node_id, parent, mean, status, category="other"):
        self.clock += 1
        evals = () if mean is None else (
            Evaluation(node_id, node_id, 1, "m", EvalStatus.OK, mean, {}, None, 0, 1, 1, ""),)
        idea = None if parent is None else Idea(f"idea {node_id}", category=category)
        decided = None if status is NodeStatus.RUNNING else self.clock
        self.nodes[node_id] = Node(node_id, parent, status, idea, None, None, "", self.clock, decided,
                                   None, None, evals)
        return self.nodes[node_id]

    def add(self, parent, mean=None, status=NodeStatus.REJECTED):
        return self._put(max(self.nodes) + 1, parent, mean, status)

    def decide(self, node_id, status, mean=None):
        self.clock += 1
        old = self.nodes[node_id]
        evals = old.evaluations if mean is None else (
            Evaluation(node_id, node_id, 1, "m", EvalStatus.OK, mean, {}, None, 0, 1, 1, ""),)
        self.nodes[node_id] = dataclasses.replace(old, status=status, decided_at=self.clock,
                                                  evaluations=evals)

    def view(self, frontier=None):
        nodes = tuple(self.nodes.values())
        if frontier is None:
            frontier = [n for n in nodes if n.status is NodeStatus.ACCEPTED]
        return SearchView(nodes, tuple(frontier), "m", minimize=True)


def step(policy, tree, outcome):
    """One proposal as the loop makes it: the island, its parent, the child (decided at once)."""
    view = tree.view()
    island, parent = policy.next_island(view), policy.select_parent(view)
    mean, status = outcome(parent, island)
    child = tree.add(parent.id, mean, status)
    return island, parent, child


def rejected(parent, island):
    return None, NodeStatus.REJECTED


def test_registered_and_accepted_by_the_run_config():
    assert POLICIES["islands"] is IslandsPolicy
    assert RunConfig(policy="islands").policy == "islands"


def test_first_proposals_go_round_robin_and_children_join_the_island_that_chose():
    tree, policy = Tree(), IslandsPolicy()
    seen = []
    for _ in range(6):
        island, parent, child = step(policy, tree, rejected)
        assert parent.is_baseline  # no island has an accepted node yet
        assert policy.island_of(child.id, tree.view()) == island
        seen.append(island)
    assert seen == [0, 1, 2, 0, 1, 2]
    assert policy.island_of(1, tree.view()) == -1  # the baseline is in every island


def test_each_island_extends_its_own_line_not_the_run_best():
    tree, policy = Tree(), IslandsPolicy()
    tree.add(1, 2.9, NodeStatus.ACCEPTED)  # node 2, island 0: a small gain
    tree.add(1, 2.5, NodeStatus.ACCEPTED)  # node 3, island 1: the run's best
    tree.add(1)  # node 4, island 2: rejected
    view = tree.view()
    assert BestFirstPolicy().select_parent(view).id == 3  # one population piles onto the best
    assert (policy.next_island(view), policy.select_parent(view).id) == (0, 2)
    tree.add(2)  # node 5
    view = tree.view()
    assert (policy.next_island(view), policy.select_parent(view).id) == (1, 3)
    tree.add(3)  # node 6
    view = tree.view()
    # island 2 has nothing accepted of its own: it starts again from the baseline
    assert (policy.next_island(view), policy.select_parent(view).id) == (2, 1)
    tree.add(1)  # node 7
    assert [policy.island_of(i, tree.view()) for i in (2, 3, 4, 5, 6, 7)] == [0, 1, 2, 0, 1, 2]


def test_migration_makes_a_neighbours_best_selectable_after_m_proposals():
    tree, policy = Tree(), IslandsPolicy()  # K = 3, M = 8

    def outcome(parent, island):  # island 0's first idea is a big gain; nothing else works
        return (2.0, NodeStatus.ACCEPTED) if len(tree.nodes) == 1 else (None, NodeStatus.REJECTED)

    picks = [step(policy, tree, outcome) for _ in range(11)]
    star = picks[0][2].id
    for n, (island, parent, _child) in enumerate(picks[:10], start=1):
        if island != 0:  # before the migration (after proposal 8), only island 0 builds on it
            assert parent.is_baseline, (n, island, parent.id)
    island, parent, child = picks[10]  # proposal 11: island 1, after the migration
    assert (island, parent.id) == (1, star)
    assert policy.island_of(child.id, tree.view()) == 1  # a migrant's child joins the receiver
    assert policy.island_of(star, tree.view()) == 0  # the migrant itself stays home
    island, parent, child = step(policy, tree, outcome)
    assert island == 2 and parent.is_baseline  # migration goes one way round the ring


def test_same_tree_gives_same_islands_and_choice_whatever_happens_later():
    """Resume-safe: a fresh policy on the stored tree agrees, and later decisions (even of nodes
    that were running at a migration) never move a node to another island."""
    for seed in range(8):
        outcomes, shuffle = random.Random(seed), random.Random(-seed)
        tree, policy = Tree(), IslandsPolicy(islands=2, migration_interval=3)
        running, history = [], {}
        for _ in range(30):
            view = tree.view()
            fresh = IslandsPolicy(islands=2, migration_interval=3)
            shuffled = dataclasses.replace(view, nodes=tuple(shuffle.sample(view.nodes, len(view.nodes))))
            parent = policy.select_parent(view)
            assert fresh.select_parent(shuffled) == parent
            assert fresh.next_island(shuffled) == policy.next_island(view)
            running.append(tree.add(parent.id, None, NodeStatus.RUNNING).id)
            if len(running) > 2:  # decisions arrive two proposals late, as with parallel workers
                node_id, good = running.pop(0), outcomes.random() < 0.5
                tree.decide(node_id, NodeStatus.ACCEPTED if good else NodeStatus.REJECTED,
                            outcomes.uniform(2.0, 2.9) if good else None)
            view = tree.view()
            for node_id in tree.nodes:
                island = policy.island_of(node_id, view)
                assert history.setdefault(node_id, island) == island, (seed, node_id)
        assert sorted(set(history.values())) == [-1, 0, 1]


def test_a_node_accepted_after_a_migration_does_not_rewrite_it():
    tree, policy = Tree(), IslandsPolicy(islands=2, migration_interval=4)
    tree.add(1, 2.8, NodeStatus.ACCEPTED)  # node 2, island 0
    tree.add(1)  # node 3, island 1
    tree.add(2, None, NodeStatus.RUNNING)  # node 4, island 0: still running at the migration
    tree.add(1)  # node 5, island 1; 4 proposals: node 2, island 0's best, migrates to island 1
    tree.add(2)  # node 6, island 0
    view = tree.view()
    assert (policy.next_island(view), policy.select_parent(view).id) == (1, 2)
    tree.add(2)  # node 7, island 1's child of the migrant
    assert policy.island_of(7, tree.view()) == 1
    tree.decide(4, NodeStatus.ACCEPTED, 2.0)  # now island 0's best, but after the migration
    assert policy.island_of(7, tree.view()) == 1


def test_only_the_baseline_left_or_an_exhausted_island():
    tree, policy = Tree(), IslandsPolicy()
    assert policy.select_parent(tree.view()).is_baseline
    tree.add(1, 2.5, NodeStatus.ACCEPTED)  # node 2, island 0
    tree.add(1, 2.6, NodeStatus.ACCEPTED)  # node 3, island 1
    tree.add(1)  # node 4, island 2
    baseline, other = tree.nodes[1], tree.nodes[3]
    assert policy.next_island(tree.view()) == 0
    # island 0's only node has no idea left: it restarts from the baseline
    assert policy.select_parent(tree.view([baseline])).is_baseline
    # nothing of island 0 and no baseline left: another island's node, never a crash, and its
    # child stays in that island
    assert policy.select_parent(tree.view([other])) == other
    child = tree.add(other.id)
    assert policy.island_of(child.id, tree.view()) == 1
