"""The LLM researcher on kernel tasks, with what a small model writes there: whole files in place
of patches, renamed classes, the helper's example sent back. Against the loopback server."""

from __future__ import annotations

import pytest
from llmfake.server import FakeLLM
from small_models import BATCH, KEY, baseline_store, context, researcher, told

from recursor.audit.admission import apply_proposal
from recursor.loop.candidates import add_candidate
from recursor.loop.config import RunConfig
from recursor.proposer.brief import task_brief
from recursor.proposer.factory import build_proposer
from recursor.proposer.llm.endpoint import Endpoint
from recursor.store import NodeStatus


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("RECURSOR_TEST_KEY", KEY)


def test_kernel_tasks_get_kernel_personas_and_are_told_not_to_write_cuda(tmp_path):
    task, store = baseline_store(tmp_path, "kernel-gelu")
    config = RunConfig(proposer="llm", models=(Endpoint(model="m", base_url="http://127.0.0.1:9/v1")
                                               .to_json(),))
    team = build_proposer(config, store, task)
    assert [r.persona.name for r in team.researchers] == ["memory", "compute", "compiler",
                                                          "contrarian"]
    brief = task_brief(context(task, store))
    assert "CUDA (.cu, load_inline with CUDA) and Triton will not run here" in brief
    assert "CUDA kernel:" not in brief and "Triton kernel:" not in brief  # GPU ideas hidden
    store.close()


WHOLE = """TITLE: One fused ATen call
CATEGORY: systems
HYPOTHESIS: faster.
RATIONALE: one kernel instead of seven.
PATCH:
```python
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.nn.functional.gelu(x, approximate="tanh")
```
"""


def test_a_whole_file_in_place_of_a_patch_is_taken_when_it_is_the_whole_file(tmp_path):
    task, store = baseline_store(tmp_path, "kernel-gelu")
    base = store.nodes()[0]
    snippet = WHOLE.replace("class ModelNew(nn.Module):\n    def forward(self, x):",
                            "def faster(x):").replace("        return", "    return")
    # the file's class under the name of what it computes, as the 1.5B model wrote a
    # layernorm's: named back
    renamed = WHOLE.replace("ModelNew", "FusedGelu")
    with FakeLLM([snippet, renamed]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        assert "is not the whole of solution.py (it lacks ModelNew)" in told(llm.requests[1])
    assert [c.outcome for c in proposal.calls] == ["bad-answer", "ok"]
    assert "its class FusedGelu named back ModelNew" in proposal.calls[-1].detail
    assert "FusedGelu" not in proposal.patch_text
    made = add_candidate(store, base, proposal.idea, proposal.patch_text, task.program_files(),
                         task.spec.program.editable)
    assert made.status is NodeStatus.RUNNING
    assert 'gelu(x, approximate="tanh")' in store.files(made)["solution.py"]
    assert "math.sqrt" not in store.files(made)["solution.py"]
    store.close()


def test_a_kernel_answer_is_asked_for_and_kept_in_the_kernel_categories(tmp_path):
    task, store = baseline_store(tmp_path, "kernel-gelu")
    line = next(x for x in task.program_files()["solution.py"].splitlines()
                if x.strip().startswith("return "))
    fused = (f"TITLE: One fused call\nCATEGORY: rewrite\nHYPOTHESIS: fewer passes.\n"
             f"RATIONALE: none.\nPATCH:\nsolution.py\n<<<<<<< SEARCH\n{line}\n=======\n"
             "        return torch.nn.functional.gelu(x, approximate='tanh')\n"
             ">>>>>>> REPLACE\n")
    with FakeLLM([fused]) as llm:
        proposal = researcher(llm, store, "memory").propose(context(task, store))
        asked = llm.requests[0].body["messages"][-1]["content"]
    assert "CATEGORY: <one of: cpu-kernel, rewrite, triton, cuda, other>" in asked
    assert proposal.idea.category == "rewrite"  # not 'other', as a training category list had it
    store.close()


def test_a_short_editable_file_is_asked_for_whole_and_taken_whole(tmp_path):
    # a 1.5B model's kernel patches failed on their SEARCH text, or copied the class into SEARCH
    # and REPLACE unchanged: a 14-line solution.py is asked for whole, with nothing to quote
    task, store = baseline_store(tmp_path, "kernel-gelu")
    new = ("import torch\nimport torch.nn as nn\n\n\nclass ModelNew(nn.Module):\n"
           "    def forward(self, x):\n"
           "        return torch.nn.functional.gelu(x, approximate='tanh')\n")
    head = "TITLE: One fused call\nCATEGORY: rewrite\nHYPOTHESIS: fewer passes.\nRATIONALE: x.\n"
    fenced = head + f"PATCH:\n```python\n{new}```\n"
    bare = head + f"PATCH:\nsolution.py\n{new}"  # no fence, the file's name above the code
    part = head + "PATCH:\n```python\nimport torch\nx = 1\n```\n"  # not the whole file
    for reply in (fenced, bare):
        with FakeLLM([reply]) as llm:
            proposal = researcher(llm, store, "memory").propose(context(task, store))
            asked = llm.requests[0].body["messages"][-1]["content"]
        assert "the whole new solution.py" in asked and "<<<<<<< SEARCH" not in asked
        made = apply_proposal(proposal.patch_text, task.program_files(), ["solution.py"])
        assert made.files["solution.py"] == new
    with FakeLLM([part, fenced]) as llm:
        proposal = researcher(llm, store, "memory").propose(context(task, store))
        told = llm.requests[1].body["messages"][-1]["content"]
    assert "it lacks ModelNew" in told and "the whole new solution.py" in told
    assert [c.outcome for c in proposal.calls] == ["bad-answer", "ok"]
    store.close()
    # a long file is still asked for as a patch
    tiny, lm = baseline_store(tmp_path / "lm", "tiny-lm")
    with FakeLLM([BATCH]) as llm:
        researcher(llm, lm).propose(context(tiny, lm))
        assert "<<<<<<< SEARCH" in llm.requests[0].body["messages"][-1]["content"]
    lm.close()


def test_the_same_malformed_answer_again_is_a_repeat_asked_warmer(tmp_path):
    # recorded from the 1.5B model on kernel-layernorm: ckernel's documented gelu example as the
    # whole solution.py, three times running, each refused as not the whole file
    task, store = baseline_store(tmp_path, "kernel-gelu")
    example = ("TITLE: C kernel\nCATEGORY: cpu-kernel\nHYPOTHESIS: faster.\nRATIONALE: x.\n"
               "PATCH:\n```python\nimport ckernel\nlib = ckernel.compile('')\n"
               "def helper():\n    return 1\n```\n")
    with FakeLLM([example, example + "\n", WHOLE]) as llm:
        proposal = researcher(llm, store, "memory").propose(context(task, store))
        bodies = [req.body for req in llm.requests]
    assert [c.outcome for c in proposal.calls] == ["bad-answer", "repeat", "ok"]
    told = bodies[2]["messages"][-1]["content"]
    assert "the same answer as an earlier one of yours" in told and "lacks ModelNew" in told
    assert "temperature" not in bodies[1] and bodies[2]["temperature"] == 0.7
    store.close()
