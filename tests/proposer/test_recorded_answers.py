"""What a real small model wrote, replayed: the parser, the applier and the auditor on answers
recorded from Qwen2.5-Coder-1.5B-Instruct on CPU (tests/llmfake/recorded/local/cases.toml says
where each came from and what recursor makes of it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from recursor.audit.admission import apply_proposal
from recursor.audit.memorisation import task_corpus
from recursor.proposer import ProposalContext
from recursor.proposer.llm.answer import AnswerError, parse_answer, settings_patch
from recursor.proposer.llm.hints import unchanged_blocks, unchanged_hint
from recursor.proposer.llm.titles import echoed_title
from recursor.store import Idea, Node, NodeStatus
from recursor.task import load_task

HERE = Path(__file__).parents[1] / "llmfake" / "recorded" / "local"
CASES = tomllib.loads((HERE / "cases.toml").read_text())["case"]
OUTCOME = {NodeStatus.RUNNING: "ok", NodeStatus.FAILED: "patch-error",
           NodeStatus.REJECTED: "audit"}


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_a_recorded_answer(case):
    task = load_task(case["task"])
    text = (HERE / case["file"]).read_text()
    if case["outcome"] == "truncated":
        # a cut-off answer is not applied; what goes back says which blocks changed nothing
        assert [n for n, _ in unchanged_blocks(text)] == case["unchanged"]
        return
    try:
        answer = parse_answer(text)
    except AnswerError as err:
        assert case["outcome"] == "bad-answer", f"the answer does not parse: {err}"
        return
    patch = answer.patch
    if answer.settings:  # settings alone, taken as the lines that set them
        patch, _ = settings_patch(answer.settings, task.program_files(),
                                  list(task.spec.program.editable))
    applied = apply_proposal(patch, task.program_files(), task.spec.program.editable,
                             task_corpus(task), task.may_write, generous=True)
    if case["outcome"] == "no-change":
        assert applied.status is NodeStatus.RUNNING and applied.files == task.program_files()
        hint = unchanged_hint(f"{answer.title} {answer.hypothesis}", task.program_files(),
                              task.spec.program.editable)
        assert case["points_at"] in hint, hint
        return
    assert OUTCOME[applied.status] == case["outcome"], applied.reason
    for path, text in applied.files.items() if "keeps" in case else ():
        if path in task.spec.program.editable:
            assert case["keeps"] in text, text
    if case["outcome"] == "ok":
        assert [m.rule for m in applied.matches] == case["rules"]
        assert applied.files != task.program_files()
        # a title that copies the goal or the history goes back to the model for a real one
        echoed = echoed_title(answer.title, _context(task))
        if case.get("title") != "kept":  # a title the test does not judge
            assert bool(echoed) == (case.get("title") == "echo"), (answer.title, echoed)
    if case["outcome"] == "patch-error":
        # what goes back to the model names the nearest lines of the file
        assert "nearest lines" in applied.reason or "occurs" in applied.reason \
            or "fits" in applied.reason, applied.reason


def _context(task) -> ProposalContext:
    """A run whose history holds one failed idea of the model, as the recorded one had."""
    base = Node(1, None, NodeStatus.ACCEPTED, None, None, None, "w", 0.0, None, None, None)
    tried = Node(2, 1, NodeStatus.FAILED, Idea(title="an idea", proposer="llm:local:optimizer"),
                 None, None, "w", 0.0, None, None, None)
    return ProposalContext(task=task, parent=base, parent_files=task.program_files(),
                           lineage=(base,), nodes=(base, tried), seed=0)
