"""`recursor run kernel-softmax --proposer llm` against the loopback server: the model writes a
C kernel that does not compile, gets the compiler's message back from the task's trial run
before any experiment is spent on it, repairs it, and the repair is judged like any
candidate."""

from __future__ import annotations

import pytest
from llmfake.server import FakeLLM, Recorded
from typer.testing import CliRunner

import recursor
from recursor.cli.app import app
from recursor.store import RunStore

pytestmark = pytest.mark.slow

KERNEL = r'''import ckernel

_LIB = ckernel.compile(r"""
void scale_rows(const float* x, float* y, long n) {
    for (long i = 0; i < n; i++) y[i] = x[i] __OP__;
}
""", {"scale_rows": "void(float*, float*, int64)"})'''


def answer(title: str, op: str) -> str:
    return (f"TITLE: {title}\nCATEGORY: cpu-kernel\nHYPOTHESIS: a C loop beats the call.\n"
            "RATIONALE: fewer passes.\nPATCH:\nsolution.py\n<<<<<<< SEARCH\nimport torch.nn as nn\n"
            "=======\nimport torch.nn as nn\n\n" + KERNEL.replace("__OP__", op)
            + "\n>>>>>>> REPLACE\n")


BROKEN = answer("Scale in C", "* * 1.0f")  # a syntax error gcc reports
FIXED = answer("Scale in C", "* 1.0f")


def test_a_kernel_that_does_not_compile_goes_back_to_the_model_and_is_repaired(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-test")
    seen: list[Recorded] = []

    def after_script(request: Recorded) -> str:
        seen.append(request)
        return FIXED

    run_dir = tmp_path / "run"
    with FakeLLM([BROKEN], default=after_script) as llm:
        models = tmp_path / "models.toml"
        models.write_text(f'[[models]]\nmodel = "fake-coder"\nprovider = "openai"\n'
                          f'base_url = "{llm.url}/v1"\napi_key_env = "FAKE_LLM_KEY"\n'
                          f'max_retries = 0\n')
        result = CliRunner().invoke(app, [
            "run", "kernel-softmax", "--run-dir", str(run_dir), "--experiments", "2",
            "--proposer", "llm", "--models-file", str(models), "--persona", "systems",
            "--no-heldout", "--set", "budget.trials=10", "--set", "budget.warmup=2",
            "--set", "seeds.values=[1, 2]",  # the repair is under test, not the noise floor
            # the repair is asked for once the crash is known: no proposal made ahead of it
            "--propose-ahead", "0"])
    assert result.exit_code == 0, result.output
    nodes = recursor.open_run(run_dir).nodes()[1:]
    # the broken kernel never became an experiment: its trial failed and it went back
    assert [n.title for n in nodes] == ["Scale in C"] and nodes[0].status.value in (
        "accepted", "rejected"), result.output  # the repair ran and was judged
    store = RunStore.open(run_dir, readonly=True)
    try:
        outcomes = [c.outcome for c in store.calls()]
    finally:
        store.close()
    assert outcomes[:2] == ["trial-failed", "ok"]
    told = seen[0].prompt  # the compiler's words reached the model, in the same conversation
    assert "was run briefly" in told and "gcc failed" in told and "error" in told
    # a kernel harness streams no curve: every experiment ran to its end, and the run says why
    report = recursor.open_run(run_dir).report()
    assert report["value"] == {"enabled": False, "why": "the task streams no curve"}
    assert "early stopping: the task names no curve quantity" in result.output
    store = RunStore.open(run_dir, readonly=True)
    assert len(store.calls()) >= 2
    store.close()
