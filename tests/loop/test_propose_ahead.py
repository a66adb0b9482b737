"""Proposing ahead: with a proposer as slow as a model, the next candidate is asked for while an
experiment runs, so that the worker does not sit idle while it is written; under a mixed team
the library fills a worker the model leaves free. Real runs of tiny-lm on one worker."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import SMALL

import recursor
from recursor.errors import BudgetError
from recursor.loop.config import RunConfig
from recursor.proposer import LibraryProposer, Proposal
from recursor.proposer.team import Team
from recursor.report.render import headline
from recursor.store import Idea, NodeStatus

# half the training: these tests look at when things happen, not at what was learned
FAST = {**SMALL, "budget.train_tokens": 8192}
INIT = "    model = GPT()\n    optimizer = configure_optimizer(model)"


def crash(n: int) -> tuple[str, str]:
    """An idea whose program fails at once: one short run decides it."""
    return (f"crash {n}", f"train.py\n<<<<<<< SEARCH\n{INIT}\n=======\n"
                          f"    raise RuntimeError('bad init {n}')\n{INIT}\n>>>>>>> REPLACE\n")


class Thinker:
    """A researcher that takes `seconds` over every idea, as a model does; it notes when each
    call started and ended, and fails the test if two calls are ever out at once."""

    name = "thinker"

    def __init__(self, ideas: list[tuple[str, str]], seconds: float):
        self.ideas, self.seconds = list(ideas), seconds
        self.calls: list[tuple[float, float]] = []  # (started, ended), wall clock
        self._busy = threading.Lock()

    def has_ideas_for(self, ctx) -> bool:
        return bool(self.ideas)

    def propose(self, ctx):
        assert self._busy.acquire(blocking=False), "two proposals out at once"
        try:
            started = time.time()
            time.sleep(self.seconds)
            title, text = self.ideas.pop(0)
            self.calls.append((started, time.time()))
            return Proposal(Idea(title=title, proposer=self.name), text)
        finally:
            self._busy.release()


def test_propose_ahead_defaults_and_checks():
    assert RunConfig().ahead == 0  # the library: instant, and deterministic runs
    models = ({"model": "m", "provider": "openai"},)
    for kind in ("llm", "mixed"):
        assert RunConfig(proposer=kind, models=models).ahead == 1
    assert RunConfig(proposer="agent", agent_command=("agent",)).ahead == 1
    assert RunConfig(proposer="llm", models=models, propose_ahead=0).ahead == 0
    stored = RunConfig(propose_ahead=2).to_json()
    assert RunConfig.from_json(stored).ahead == 2  # a resumed run keeps it
    old = {k: v for k, v in stored.items() if k != "propose_ahead"}
    assert RunConfig.from_json(old).propose_ahead is None  # a run from before it existed
    with pytest.raises(BudgetError, match="propose_ahead must be 0 or more"):
        RunConfig(propose_ahead=-1)


@pytest.mark.slow
def test_the_next_proposal_is_written_while_an_experiment_runs(tmp_path):
    def run(ahead: int):
        thinker = Thinker([crash(1), crash(2), crash(3)], 1.5)
        done = recursor.run("tiny-lm", run_dir=tmp_path / f"ahead{ahead}", experiments=2,
                            workers=1, overrides=FAST, heldout=False, discoveries=False,
                            proposer=thinker, propose_ahead=ahead)
        return done, thinker

    waited, slow = run(0)
    ahead, quick = run(1)
    for done, thinker in ((waited, slow), (ahead, quick)):
        report = done.report()
        # the budget holds: the third idea is never asked for
        assert report["counts"]["experiments"] == 2 and len(thinker.calls) == 2
        assert [n.status for n in done.nodes()[1:]] == [NodeStatus.FAILED] * 2
    first = ahead.nodes()[1].evaluations[0]
    # with propose_ahead=1 the second idea was asked for while the first candidate ran ...
    assert first.started_at <= quick.calls[1][0] < first.finished_at
    # ... and without, only once it had ended and the worker was free
    assert slow.calls[1][0] >= waited.nodes()[1].evaluations[0].finished_at
    idle = {k: d.report()["engine"] for k, d in (("waited", waited), ("ahead", ahead))}
    # both waited for the first idea (nothing else could run); only one for the second
    assert idle["waited"]["waiting_seconds"] >= 2.5
    assert idle["ahead"]["waiting_fraction"] < idle["waited"]["waiting_fraction"]
    assert idle["ahead"]["waiting_seconds"] < idle["waited"]["waiting_seconds"] - 1.0
    assert any(line.endswith(f"idle waiting for proposals "
                             f"{idle['ahead']['waiting_fraction']:.1%} of worker time")
               for line in headline(ahead.report()))


@pytest.mark.slow
def test_a_mixed_team_fills_the_idle_worker_with_the_library(tmp_path):
    thinker = Thinker([crash(1)], 4.0)
    team = Team([thinker], LibraryProposer(), library_share=0.0)
    done = recursor.run("tiny-lm", run_dir=tmp_path / "run", experiments=2, workers=1,
                        overrides=FAST, heldout=False, discoveries=False, proposer=team)
    nodes = done.nodes()[1:]
    assert len(nodes) == 2  # the budget holds, the model's candidate counted while it was out
    library, model = nodes
    assert library.idea.proposer == "library" and model.idea.proposer == "thinker"
    (call,) = thinker.calls
    # the library's candidate was made, and started, while the model was still writing
    assert call[0] <= library.created_at < call[1]
    assert library.evaluations[0].started_at < call[1]
    # so the worker never sat waiting on the model
    assert done.report()["engine"]["waiting_seconds"] < 1.0
