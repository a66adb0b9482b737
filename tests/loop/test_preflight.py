"""A model's candidate is run briefly (the task's `[trial]`) before it becomes an experiment: a
crash or a wrong output goes back to the model in its own conversation, with the traceback in
the program's own lines, and costs no seed run."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import SMALL
from llmfake.server import FakeLLM

import recursor
from recursor.errors import TaskError
from recursor.executor.job import program_traceback
from recursor.executor.sandbox import detect
from recursor.loop.jobs import resolve_data
from recursor.loop.preflight import Preflight
from recursor.store import RunStore
from recursor.task import load_task

# a wider embedding for tokens than for positions: builds, and fails at the first forward pass
WIDER = ("self.wte = nn.Embedding(vocab_size, n_embd)",
         "self.wte = nn.Embedding(vocab_size, 2 * n_embd)")


def answer(title: str, search: str, replace: str) -> str:
    return (f"TITLE: {title}\nCATEGORY: architecture\nHYPOTHESIS: lower val_bpb.\n"
            f"RATIONALE: more capacity.\nPATCH:\ntrain.py\n<<<<<<< SEARCH\n{search}\n=======\n"
            f"{replace}\n>>>>>>> REPLACE\n")


def trial_of(name: str, tmp_path, overrides: dict | None = None) -> tuple[Preflight, dict]:
    task = load_task(name, overrides)
    files = {f: (task.root / f).read_text() for f in task.spec.program.files}
    return Preflight(task, tmp_path / "run", resolve_data(task), detect("auto")), files


def test_a_trial_never_spends_more_than_the_runs_own_budget(tmp_path):
    trial, _ = trial_of("tiny-lm", tmp_path, {**SMALL, "budget.train_tokens": 4096})
    budget = trial.task.spec.budget
    assert budget["train_tokens"] == 4096  # the run's, smaller than the trial's 16,384
    assert budget["train_seconds"] == 40  # the trial's, smaller than the run's 60
    assert trial.task.spec.limits.timeout_seconds == 90


def test_a_kernels_wrong_output_fails_its_trial(tmp_path):
    trial, files = trial_of("kernel-gelu", tmp_path)
    files["solution.py"] = files["solution.py"].replace("return 0.5 * x", "return 0.49 * x")
    failed = trial(files)
    assert failed.startswith("kernel.correctness: wrong result")


def test_a_trial_in_progress_is_killed_when_the_run_ends(tmp_path):
    trial, files = trial_of("tiny-lm", tmp_path, SMALL)
    files["train.py"] = "import time\ntime.sleep(120)\n" + files["train.py"]
    out: list = []
    worker = threading.Thread(target=lambda: out.append(trial(files)))
    started = time.monotonic()
    worker.start()
    time.sleep(3)
    trial.cancel()
    worker.join(30)
    assert not worker.is_alive() and time.monotonic() - started < 30
    assert out == [None]  # no verdict from a trial that was cut short
    assert trial(files) is None  # and none started after


def test_a_trial_may_only_set_the_tasks_own_budget_keys(tmp_path):
    with pytest.raises(TaskError, match=r"\[trial\] budget names \['train_steps'\]"):
        load_task("tiny-lm", {"trial.budget": {"train_steps": 10}})


def test_a_traceback_keeps_the_programs_frames_and_the_exception(tmp_path):
    log = tmp_path / "program.log"
    log.write_text(
        "step 1 loss 5.5\nTraceback (most recent call last):\n"
        '  File "/x/sandbox_init.py", line 641, in _run_script\n    runpy.run_path(script)\n'
        '  File "/tmp/s/program/train.py", line 220, in train\n    logits = model(x)\n'
        '             ^^^^^^^^\n'
        '  File "/v/site-packages/torch/nn/modules/module.py", line 1789, in _call_impl\n'
        "    return forward_call(*args, **kwargs)\n"
        '  File "/tmp/s/program/train.py", line 128, in forward\n'
        "    x = self.wte(idx) + self.wpe(pos)\n"
        "RuntimeError: The size of tensor a (64) must match the size of tensor b (128)\n")
    told = program_traceback(log, ["train.py"])
    assert told.splitlines()[1:] == [
        "  train.py, line 220, in train", "    logits = model(x)",
        "  train.py, line 128, in forward", "    x = self.wte(idx) + self.wpe(pos)",
        "RuntimeError: The size of tensor a (64) must match the size of tensor b (128)"]
    log.write_text("step 1 loss 5.5\nKilled\n")
    assert program_traceback(log, ["train.py"]) is None


@pytest.mark.slow
def test_a_candidate_that_crashes_its_trial_goes_back_to_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_LLM_KEY", "local")
    script = [answer("Wider token embedding", *WIDER),
              answer("Higher learning rate", "learning_rate = 1e-3", "learning_rate = 2e-3")]
    with FakeLLM(script) as llm:
        models = tmp_path / "models.toml"
        models.write_text(f'[[models]]\nmodel = "fake-coder"\nprovider = "openai"\n'
                          f'base_url = "{llm.url}/v1"\napi_key_env = "FAKE_LLM_KEY"\n'
                          'max_retries = 0\n')
        recursor.run("tiny-lm", run_dir=tmp_path / "run", experiments=1, workers=1,
                     proposer="llm", models_file=models, personas=["optimizer"],
                     heldout=False, discoveries=False, propose_ahead=0,
                     # the trial is under test, not the noise floor: two seeds, no noise runs
                     overrides={**SMALL, "seeds.values": [1, 2], "seeds.noise": 0})
        second = llm.requests[1].prompt
    # the crash in the program's own lines: the line of train.py and its code, and no frame of
    # torch or of the sandbox
    assert "was run briefly" in second and "train.py, line" in second
    assert "x = self.wte(idx) + self.wpe(pos)" in second
    assert "RuntimeError: The size of tensor a" in second
    assert "site-packages" not in second and "sandbox_init" not in second
    # each trial's folder is kept under the run's trials/, without the program's copy
    trials = tmp_path / "run" / "trials"
    assert sorted(p.name for p in trials.iterdir()) == ["1", "2"]
    assert (trials / "1" / "job" / "program.log").exists()
    assert not (trials / "1" / "program").exists()
    store = RunStore.open(tmp_path / "run", readonly=True)
    try:
        calls, nodes = store.calls(), store.nodes()
    finally:
        store.close()
    assert [c.outcome for c in calls] == ["trial-failed", "ok"]
    # the crash never became an experiment: one candidate, the repaired idea, ran its seeds
    assert [n.title for n in nodes[1:]] == ["Higher learning rate"]
    assert nodes[1].evaluations and all(e.status.value == "ok" for e in nodes[1].evaluations)
