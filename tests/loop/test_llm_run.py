"""`recursor run tiny-lm --proposer llm` against a loopback server speaking OpenAI's protocol,
exactly as it would run against a real endpoint: propose, repair a bad patch, refuse a
duplicate, run the experiments, stop at the cost cap; and the key goes nowhere."""

from __future__ import annotations

import json

import pytest
from conftest import SMALL
from llmfake.server import FakeLLM, Recorded
from typer.testing import CliRunner

import recursor
from recursor.cli.app import app
from recursor.store import RunStore

pytestmark = pytest.mark.slow
KEY = "sk-live-DO-NOT-LEAK-42"


def idea(title: str, search: str, replace: str) -> str:
    return (f"TITLE: {title}\nCATEGORY: hyperparameter\nHYPOTHESIS: lower val_bpb.\n"
            f"RATIONALE: small nets.\nPATCH:\ntrain.py\n<<<<<<< SEARCH\n{search}\n=======\n"
            f"{replace}\n>>>>>>> REPLACE\n")


SCRIPT = [
    idea("Higher learning rate", "LEARNING_RATE = 1e-3", "LEARNING_RATE = 3e-3"),  # misquoted
    idea("Higher learning rate", "learning_rate = 1e-3", "learning_rate = 3e-3"),  # repaired
    idea("Triple the step size", "learning_rate = 1e-3", "learning_rate = 3e-3"),  # duplicate
    idea("Shorter context", "block_size = 64  # context length in bytes",
         "block_size = 32  # context length in bytes"),
]


def fallback(request: Recorded) -> str:
    """After the script: a new, valid idea each time (weight decay values never tried)."""
    k = sum(1 for _ in request.prompt.split("weight_decay = 0.0")) + len(request.prompt) % 7
    return idea(f"Weight decay {k}", "weight_decay = 0.1", f"weight_decay = 0.0{k + 1}")


def test_an_llm_run_end_to_end_with_repairs_duplicates_and_a_cost_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_LLM_KEY", KEY)
    run_dir = tmp_path / "run"
    with FakeLLM(list(SCRIPT), default=fallback) as llm:
        models = tmp_path / "models.toml"
        # $2000 per million tokens: a ~2,000-token brief (as the server counts) costs ~$4 a call
        models.write_text(f'[[models]]\nmodel = "fake-coder"\nprovider = "openai"\n'
                          f'base_url = "{llm.url}/v1"\napi_key_env = "FAKE_LLM_KEY"\n'
                          f'price_in = 2000.0\nprice_out = 2000.0\nmax_retries = 0\n')
        sets = [f"--set={k}={v}" for k, v in SMALL.items()]
        result = CliRunner().invoke(app, [
            "run", "tiny-lm", "--run-dir", str(run_dir), "--experiments", "6", "--workers", "2",
            "--proposer", "llm", "--models-file", str(models), "--persona", "optimizer",
            "--persona", "architecture", "--max-cost", "16", "--no-heldout",
            # the script's answers come in the order of turns: one proposal at a time, each
            # once a worker is free (proposing ahead is tested in test_propose_ahead.py)
            "--propose-ahead", "0", *sets])
        requests = list(llm.requests)
    assert result.exit_code == 0, result.output
    assert all(r.api_key == KEY for r in requests)

    run = recursor.open_run(run_dir)
    report = run.report()
    assert "cost cap of $16 reached" in report["end_reason"]
    assert 1 <= report["counts"]["experiments"] < 6
    nodes = run.nodes()[1:]
    assert nodes[0].title == "Higher learning rate"
    assert nodes[0].idea.proposer == "llm:fake-coder:optimizer"
    assert nodes[1].idea.proposer == "llm:fake-coder:architecture"  # personas take turns
    assert nodes[1].title == "Shorter context"  # the duplicate never became a node
    assert all(n.status.value in ("accepted", "rejected", "failed") for n in nodes)

    store = RunStore.open(run_dir, readonly=True)
    calls = store.calls()
    # the third answer makes node 2's program again: a repeat, sent back, never a node
    assert [c.outcome for c in calls[:4]] == ["patch-error", "ok", "repeat", "ok"]
    assert [c.node_id for c in calls[:4]] == [nodes[0].id, nodes[0].id, nodes[1].id, nodes[1].id]
    assert "SEARCH text was not found" in store.path(calls[1].transcript).read_text()
    assert store.total_cost() >= 16
    store.close()

    by = report["proposers"]["llm:fake-coder:optimizer"]
    assert by["calls"] >= 2 and by["cost"] > 0 and by["tried"] >= 1

    # the key is in no file of the run: not the transcripts, the logs, the config, the database
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in json.dumps(report)


def test_an_agent_run_from_the_cli_judges_the_agents_change(tmp_path):
    """`--proposer agent --agent-command ...` end to end, with the stand-in agent of
    tests/proposer/fake_agent.py: its edit becomes a judged node named after the agent."""
    import sys
    from pathlib import Path

    agent = Path(__file__).parents[1] / "proposer" / "fake_agent.py"
    run_dir = tmp_path / "run"
    sets = [f"--set={k}={v}" for k, v in SMALL.items()]
    result = CliRunner().invoke(app, [
        "run", "tiny-lm", "--run-dir", str(run_dir), "--experiments", "1", "--workers", "2",
        "--proposer", "agent", "--agent-command", f"{sys.executable} {agent} --prompt-arg {{prompt}}",
        "--agent-timeout", "120", "--no-heldout", *sets])
    assert result.exit_code == 0, result.output
    run = recursor.open_run(run_dir)
    node = run.nodes()[1]
    assert node.title == "Triple the learning rate"
    assert node.idea.proposer == f"agent:{Path(sys.executable).name}"
    assert node.status.value in ("accepted", "rejected")
    assert run.report()["config"]["agent_timeout"] == 120
