"""A policy is one class and one line in POLICIES: registered so, the run setting accepts its
name and the loop's proposing side asks it for every parent."""

from __future__ import annotations

from concurrent.futures import wait
from pathlib import Path

import pytest

from recursor.errors import SettingsError
from recursor.loop.config import RunConfig
from recursor.loop.proposing import Proposals
from recursor.policy import (
    POLICIES,
    GreedyPolicy,
    IslandPolicy,
    IslandsPolicy,
    MapElitesPolicy,
    SearchPolicy,
    SearchView,
    make_policy,
)
from recursor.proposer import LibraryProposer
from recursor.store import Idea, NodeStatus

DOCS = Path(__file__).parents[2] / "docs" / "extending.md"


def docs_policy(monkeypatch) -> type[SearchPolicy]:
    """The policy example of docs/extending.md, run as it is written there (its registry
    line included), with POLICIES restored after the test."""
    text = DOCS.read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setattr("recursor.policy.POLICIES", dict(POLICIES))
    import recursor.policy

    before = set(recursor.policy.POLICIES)
    exec(compile(code, str(DOCS), "exec"), {})
    added = set(recursor.policy.POLICIES) - before
    assert added == {"oldest"}
    return recursor.policy.POLICIES["oldest"]


def test_a_registered_policy_chooses_the_parents(tiny_lm_store, monkeypatch):
    task, store = tiny_lm_store
    with pytest.raises(SettingsError):
        RunConfig(policy="oldest")
    oldest = docs_policy(monkeypatch)
    config = RunConfig(policy="oldest")  # the setting's names are the registry's
    policy = make_policy(config.policy, task.spec.search)
    assert isinstance(policy, oldest) and not isinstance(policy, IslandPolicy)
    views: list[SearchView] = []
    choose = policy.select_parent
    policy.select_parent = lambda view: views.append(view) or choose(view)

    base = store.nodes()[0]
    child = store.add_node(base.id, Idea(title="a step", proposer="test"),
                           store.files(base))
    store.decide(child.id, NodeStatus.ACCEPTED, "accepted")
    nodes = {n.id: n for n in store.nodes()}
    # on two nodes without values greedy takes the newest: the choice below is the new policy's
    assert GreedyPolicy().select_parent(
        SearchView(tuple(nodes.values()), tuple(nodes.values()), "val_bpb", True)).id == child.id

    proposals = Proposals(store, task, config, LibraryProposer(), policy, None,
                          lambda kind, message, node_id: None)
    proposals.start(nodes)
    assert proposals.pending is not None
    wait([proposals.pending], timeout=60)
    assert proposals.take(nodes)
    proposals.close()
    assert len(views) == 1
    assert {n.id for n in views[0].frontier} == {base.id, child.id}
    added = max(nodes.values(), key=lambda n: n.id)
    assert added.id not in (base.id, child.id) and added.parent_id == base.id


def test_policies_configured_from_the_task_search_table(tiny_lm_store):
    task, _ = tiny_lm_store
    search = task.spec.search.model_copy(update={"islands": 5, "descriptors": ("proposer",)})
    islands = make_policy("islands", search)
    assert isinstance(islands, IslandPolicy) and islands.islands == 5
    assert make_policy("map-elites", search).descriptors == ("proposer",)
    assert make_policy("islands").islands == IslandsPolicy().islands  # no table: the defaults
    assert not isinstance(make_policy("map-elites", search), IslandPolicy)
    assert isinstance(make_policy("map-elites", search), MapElitesPolicy)
