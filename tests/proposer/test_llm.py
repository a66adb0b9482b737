"""The LLM researcher against a real HTTP server on loopback that speaks both providers'
protocols (tests/llmfake), through the official SDKs: as it would against a real endpoint."""

from __future__ import annotations

import pytest
from llmfake.server import FakeLLM, Reply

from recursor.proposer import ProposalContext, ProposalFailed
from recursor.proposer.llm.endpoint import Endpoint, parse_model
from recursor.proposer.llm.researcher import LLMResearcher
from recursor.proposer.novelty import NoveltyFilter
from recursor.proposer.team import Team
from recursor.store import Idea, NodeStatus

KEY = "sk-test-1234567890"


def answer(title: str, search: str, replace: str, category: str = "hyperparameter") -> str:
    return (f"Here is my idea.\n\nTITLE: {title}\nCATEGORY: {category}\n"
            f"HYPOTHESIS: val_bpb drops because {title.lower()}.\nRATIONALE: small networks.\n"
            f"PATCH:\n```\ntrain.py\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n"
            ">>>>>>> REPLACE\n```\n")


LR = answer("Higher learning rate", "learning_rate = 1e-3", "learning_rate = 3e-3")
NOT_THERE = answer("Higher learning rate", "lr_decay_factor = 0.5", "learning_rate = 3e-3")
ENVIRON = answer("Threads from the environment", "import os",
                 "import os\nTHREADS = os.environ.get('OMP_NUM_THREADS')", "systems")


def context(task, store, cost_left=None) -> ProposalContext:
    nodes = tuple(store.nodes())
    parent = nodes[0]
    return ProposalContext(task=task, parent=parent, parent_files=store.files(parent),
                           lineage=(parent,), nodes=nodes, seed=0, cost_left=cost_left)


def researcher(llm: FakeLLM, store, provider="openai", **options) -> LLMResearcher:
    base_url = llm.url + ("/v1" if provider == "openai" else "")
    endpoint = Endpoint(model="fake-model", provider=provider, base_url=base_url,
                        api_key_env="RECURSOR_TEST_KEY", price_in=1.0, price_out=2.0,
                        max_retries=options.pop("max_retries", 0), timeout=10)
    return LLMResearcher(endpoint, "optimizer",
                         read_patch=lambda n: store.path(n.patch_path).read_text(), **options)


@pytest.fixture
def run(tiny_lm_store):
    return tiny_lm_store


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("RECURSOR_TEST_KEY", KEY)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_proposal_from_the_brief_with_its_cost(run, provider):
    task, store = run
    with FakeLLM([LR]) as llm:
        proposal = researcher(llm, store, provider).propose(context(task, store))
        [request] = llm.requests
    assert request.protocol == provider and request.api_key == KEY
    assert request.body["model"] == "fake-model"
    # the brief: goal, rules, the parent's whole code, the answer format
    assert "val_bpb" in request.prompt and "Rules" in request.prompt
    assert "learning_rate = 1e-3" in request.prompt and "<<<<<<< SEARCH" in request.prompt
    idea = proposal.idea
    assert idea.title == "Higher learning rate" and idea.category == "hyperparameter"
    assert idea.proposer == "llm:fake-model:optimizer" and "val_bpb drops" in idea.hypothesis
    assert "learning_rate = 3e-3" in proposal.patch_text
    [call] = proposal.calls
    assert call.outcome == "ok" and call.input_tokens > 100 and call.output_tokens > 10
    assert call.cost == pytest.approx((call.input_tokens * 1.0 + call.output_tokens * 2.0) / 1e6)
    assert KEY not in call.transcript


def test_a_patch_that_does_not_apply_goes_back_with_the_error(run):
    task, store = run
    with FakeLLM([NOT_THERE, "I think you should raise the learning rate.", LR]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        second, third = llm.requests[1], llm.requests[2]
    assert [c.outcome for c in proposal.calls] == ["patch-error", "bad-answer", "ok"]
    assert [c.attempt for c in proposal.calls] == [1, 2, 3]
    assert "SEARCH text was not found" in second.prompt  # the model saw why
    assert "no TITLE and no PATCH" in third.prompt or "no PATCH" in third.prompt
    assert proposal.idea.title == "Higher learning rate"


def test_a_rule_breaking_patch_is_sent_back_with_the_auditors_finding(run):
    task, store = run
    with FakeLLM([ENVIRON, LR]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        assert "static.environment" in llm.requests[1].prompt
    assert [c.outcome for c in proposal.calls] == ["audit", "ok"]


def test_an_idea_the_run_already_tried_is_refused_as_a_duplicate(run):
    task, store = run
    parent = store.nodes()[0]
    tried = answer("Triple the learning rate", "learning_rate = 1e-3", "learning_rate = 3e-3")
    store.add_node(parent.id, Idea(title="Triple the learning rate", proposer="llm:x:y"),
                   {**task.program_files()}, tried.split("PATCH:\n```\n")[1].split("```")[0],
                   "diff")
    other = answer("Warmup", "learning_rate = 1e-3", "learning_rate = 1e-3\nwarmup = 20",
                   "schedule")
    with FakeLLM([LR, other]) as llm:
        proposal = researcher(llm, store, novelty=NoveltyFilter()).propose(
            context(task, store))
        assert "repeats one the run already tried" in llm.requests[1].prompt
    assert [c.outcome for c in proposal.calls] == ["duplicate", "ok"]
    assert proposal.idea.title == "Warmup"


def test_a_model_that_never_answers_usably_fails_the_proposal_not_the_run(run):
    task, store = run
    with (FakeLLM(["no idea", "still none", "nothing"]) as llm,
          pytest.raises(ProposalFailed, match="no usable answer in 3 tries") as err):
        researcher(llm, store, max_repairs=2).propose(context(task, store))
    assert [c.outcome for c in err.value.calls] == ["bad-answer"] * 3


@pytest.mark.parametrize(("reply", "kind"), [
    (Reply(status=500), "server"),
    (Reply(status=429), "rate-limit"),
    (Reply(status=400, body="max_tokens is too large"), "bad-request"),
    (Reply(raw=b"{not json"), "garbage"),
])
def test_endpoint_faults_are_recorded_with_their_kind(run, reply, kind):
    task, store = run
    with FakeLLM([reply]) as llm, pytest.raises(ProposalFailed) as err:
        researcher(llm, store).propose(context(task, store))
    [call] = err.value.calls
    assert call.outcome == f"error:{kind}" and KEY not in call.detail


def test_rate_limits_are_retried_by_the_sdk_with_backoff(run):
    task, store = run
    with FakeLLM([Reply(status=429), Reply(status=503), LR]) as llm:
        proposal = researcher(llm, store, max_retries=2).propose(context(task, store))
        assert len(llm.requests) == 3
    assert proposal.calls[-1].outcome == "ok"


def test_a_cut_off_answer_is_sent_back_as_too_long(run):
    task, store = run
    with FakeLLM([Reply(text=LR[:120], finish="length"), LR]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        assert "cut off at the token limit" in llm.requests[1].prompt
    assert [c.outcome for c in proposal.calls] == ["truncated", "ok"]


def test_model_names_and_providers():
    assert parse_model("gpt-4o-mini").provider == "openai"
    assert parse_model("claude-sonnet-4-5").provider == "anthropic"
    assert parse_model("anthropic:my-proxy-model").provider == "anthropic"
    ollama = parse_model("qwen2.5-coder:7b", base_url="http://localhost:11434/v1")
    assert (ollama.provider, ollama.model) == ("openai", "qwen2.5-coder:7b")


def test_the_team_gives_each_persona_a_turn_and_more_turns_to_the_model_that_wins(run):
    task, store = run
    endpoints = [Endpoint(model=m, base_url="http://127.0.0.1:9/v1") for m in ("a", "b")]
    team = Team([LLMResearcher(e, p) for e in endpoints for p in ("optimizer", "architecture")])
    parent = store.nodes()[0]

    def add(proposer, status):
        node = store.add_node(parent.id, Idea(title=f"{proposer} {status}", proposer=proposer),
                              task.program_files(), "p", "d")
        store.decide(node.id, status, "test")

    assert team.pick(context(task, store)).name == "llm:a:optimizer"
    add("llm:a:optimizer", NodeStatus.REJECTED)
    assert team.pick(context(task, store)).name == "llm:b:optimizer"  # every model is tried
    add("llm:b:optimizer", NodeStatus.ACCEPTED)
    add("llm:a:architecture", NodeStatus.REJECTED)
    add("llm:a:optimizer", NodeStatus.REJECTED)
    # b won its only try, a lost three: b's turn, with the persona it has not used yet
    assert team.pick(context(task, store)).name == "llm:b:architecture"


def test_a_crashed_experiment_is_repaired_with_its_error(run):
    task, store = run
    parent = store.nodes()[0]
    crash = answer("Bigger model", "n_embd = 64", "n_embd = 96")
    patch = crash.split("PATCH:\n```\n")[1].split("```")[0]
    r = None
    with FakeLLM([LR]) as llm:
        r = researcher(llm, store)
        failed = store.add_node(parent.id, Idea(title="Bigger model", proposer=r.name),
                                task.program_files(), patch, "diff")
        store.decide(failed.id, NodeStatus.FAILED,
                     "training failed with exit code 1: RuntimeError: shape mismatch")
        proposal = r.propose(context(task, store))
        [request] = llm.requests
    assert f"repair node {failed.id}" in request.prompt
    assert "RuntimeError: shape mismatch" in request.prompt and "n_embd = 96" in request.prompt
    assert proposal.idea.source == f"repair of node {failed.id}"
    assert proposal.calls[0].purpose == "repair"
    # once repaired, the next turn is a new idea again
    store.add_node(parent.id, proposal.idea, task.program_files(), proposal.patch_text, "d")
    assert r._to_repair(context(task, store)) is None


def test_under_the_islands_policy_each_island_has_its_own_personas(run):
    import dataclasses

    task, store = run
    endpoint = Endpoint(model="a", base_url="http://127.0.0.1:9/v1")
    names = ("optimizer", "architecture", "systems", "contrarian")
    team = Team([LLMResearcher(endpoint, p) for p in names])
    picked = {i: team.pick(dataclasses.replace(context(task, store), island=(i, 3))).name
              for i in range(3)}
    assert picked == {0: "llm:a:optimizer", 1: "llm:a:architecture", 2: "llm:a:systems"}


def test_models_from_the_command_line_and_from_a_file(tmp_path):
    from recursor.errors import RecursorError
    from recursor.loop.setup import _endpoints

    [e] = _endpoints(["qwen2.5-coder:7b"], None, "http://localhost:11434/v1")
    assert (e.provider, e.model, e.base_url) == ("openai", "qwen2.5-coder:7b",
                                                 "http://localhost:11434/v1")
    f = tmp_path / "models.toml"
    f.write_text('[[models]]\nmodel = "claude-x"\nprovider = "anthropic"\nprice_in = 3\n')
    [a, b] = _endpoints(["gpt-4o-mini"], f, None)
    assert (a.provider, b.provider, b.price_in) == ("openai", "anthropic", 3)
    f.write_text('[[models]]\nmodel = "m"\ncolour = "red"\n')
    with pytest.raises(RecursorError, match="unknown keys \\['colour'\\]"):
        _endpoints([], f, None)


def test_the_run_config_builds_the_team_with_its_personas_and_embeddings(run):
    from recursor.loop.config import RunConfig
    from recursor.proposer.factory import build_proposer

    _, store = run
    config = RunConfig(proposer="mixed", personas=("systems", "contrarian"),
                       models=(Endpoint(model="m", base_url="http://127.0.0.1:9/v1").to_json(),),
                       embeddings={"model": "emb", "base_url": "http://127.0.0.1:9/v1"})
    team = build_proposer(RunConfig.from_json(config.to_json()), store)  # as resume rebuilds it
    assert [r.name for r in team.researchers] == ["llm:m:systems", "llm:m:contrarian"]
    assert team.library is not None and team.library_share == 0.25
    assert team.researchers[0].novelty.embedder.model == "emb"
