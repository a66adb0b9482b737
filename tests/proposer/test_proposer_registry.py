from __future__ import annotations

from recursor.loop.config import RunConfig
from recursor.proposer import PROPOSERS, LibraryProposer, build_proposer
from recursor.settings import BY_NAME


def test_the_proposer_setting_names_the_registry():
    assert BY_NAME["proposer"].check.allowed() == tuple(PROPOSERS)


def test_build_proposer_looks_the_proposer_up_by_name(tiny_lm_store, monkeypatch):
    task, store = tiny_lm_store
    assert isinstance(build_proposer(RunConfig(), store, task), LibraryProposer)
    seen = []

    def factory(config, store, task):
        seen.append((config.proposer, task.name))
        return LibraryProposer()

    monkeypatch.setitem(PROPOSERS, "library", factory)
    build_proposer(RunConfig(), store, task)
    assert seen == [("library", "tiny-lm")]
