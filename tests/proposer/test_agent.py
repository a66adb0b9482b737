"""The agent proposer against a real executable that behaves like a coding agent's CLI."""

import os
import sys
import time
from pathlib import Path

import pytest

from recursor.audit.admission import apply_proposal
from recursor.errors import RecursorError
from recursor.patch import unified_diff
from recursor.proposer import ProposalContext, ProposalFailed
from recursor.proposer.agent import AgentError, AgentProposer, parse_answer, patch_between
from recursor.store.records import Node, NodeStatus
from recursor.task import load_task

TASK = load_task("tiny-lm")
FAKE = str(Path(__file__).with_name("fake_agent.py"))
EDITABLE = TASK.spec.program.editable


def context() -> ProposalContext:
    base = Node(id=1, parent_id=None, status=NodeStatus.ACCEPTED, idea=None, patch_path=None,
                diff_path=None, workspace="", created_at=0, decided_at=None, reason=None, verdict=None)
    return ProposalContext(TASK, base, TASK.program_files(), (base,), (base,), seed=0)


def agent(*flags, **kw) -> AgentProposer:
    return AgentProposer([sys.executable, FAKE, "--prompt-file", "{prompt_file}", *flags], **kw)


def test_the_patch_reproduces_the_agents_file_through_the_loops_own_apply(tmp_path):
    ctx = context()
    proposer = agent("--copy-to", str(tmp_path), name="fake")
    proposal = proposer.propose(ctx)

    applied = apply_proposal(proposal.patch_text, ctx.parent_files, EDITABLE)
    assert applied.status is NodeStatus.RUNNING, applied.reason
    assert applied.files["train.py"] == (tmp_path / "train.py").read_text()
    assert "learning_rate = 3e-3" in applied.files["train.py"]
    assert "__pycache__" not in proposal.patch_text  # the agent's caches are not changes

    idea = proposal.idea
    assert idea.title == "Triple the learning rate"
    assert idea.category == "hyperparameter"
    assert idea.hypothesis.startswith("1e-3 is too cautious")
    assert idea.rationale == ("Small models tolerate larger AdamW steps.\n"
                              "Short runs reward fast early progress.")
    assert idea.proposer == "agent:fake" and proposer.name == "fake"
    assert proposer.has_ideas_for(ctx)
    assert [(a.number, a.exit_code, a.outcome) for a in proposer.attempts] == [(1, 0, "ok")]
    assert "TITLE: Triple" in proposer.attempts[0].stdout_tail


@pytest.mark.parametrize("mode", ["arg", "file", "stdin"])
def test_the_prompt_reaches_the_agent_three_ways(mode, tmp_path):
    passing = {"arg": ["--prompt-arg", "{prompt}"], "file": ["--prompt-file", "{prompt_file}"],
               "stdin": []}[mode]
    saved = tmp_path / "prompt.txt"
    proposer = AgentProposer([sys.executable, FAKE, *passing, "--prompt-to", str(saved)])
    proposal = proposer.propose(context())
    assert proposal.idea.title == "Triple the learning rate"
    prompt = saved.read_text()
    assert prompt == proposer.prompt and prompt.startswith("# Task:")
    assert "learning_rate = 1e-3" in prompt and "CATEGORY: <one of:" in prompt


def test_a_failure_then_a_success_is_retried_with_the_reason_and_recorded(tmp_path):
    proposer = agent("--fail-first", str(tmp_path / "marker"), "--prompt-to", str(tmp_path / "p"))
    proposal = proposer.propose(context())
    assert proposal.idea.title == "Triple the learning rate"
    first, second = proposer.attempts
    assert (first.number, first.exit_code, first.outcome) == (1, 1, "exited with code 1")
    assert "first attempt fails" in first.stderr_tail and first.seconds > 0
    assert (second.number, second.exit_code, second.outcome) == (2, 0, "ok")
    assert "attempt 1: exited with code 1" in (tmp_path / "p").read_text()  # told to the agent
    assert "attempt 2 of 2" in proposal.idea.reason


def test_a_hanging_agent_is_killed_with_its_children_at_the_timeout(tmp_path):
    pid_file = tmp_path / "child.pid"
    proposer = agent("--hang", str(pid_file), timeout=1.5, max_attempts=1)
    start = time.monotonic()
    with pytest.raises(AgentError, match="timed out after 1.5 s"):
        proposer.propose(context())
    assert time.monotonic() - start < 1.5 + 3
    [attempt] = proposer.attempts
    assert attempt.exit_code is None and attempt.outcome.startswith("timed out")
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_persistent_failure_raises_with_every_reason():
    proposer = agent("--exit", "2", max_attempts=2)
    with pytest.raises(AgentError) as err:
        proposer.propose(context())
    message = str(err.value)
    assert "attempt 1: exited with code 2" in message and "attempt 2: exited with code 2" in message
    assert "something broke" in message
    assert isinstance(err.value, ProposalFailed) and isinstance(err.value, RecursorError)
    assert err.value.reason == message  # what the loop records for a failed proposal
    assert [a.outcome for a in err.value.attempts] == ["exited with code 2"] * 2 == \
        [a.outcome for a in proposer.attempts]

    proposer = agent("--no-change", max_attempts=2)
    with pytest.raises(AgentError, match="attempt 2: left no change to the files"):
        proposer.propose(context())

    proposer = AgentProposer(["/nonexistent/agent-cli", "{prompt}"], max_attempts=3)
    with pytest.raises(AgentError, match="could not start"):
        proposer.propose(context())
    assert len(proposer.attempts) == 1  # a missing program is not retried


def test_a_non_editable_change_stays_in_the_patch_and_the_auditor_rejects_it():
    ctx = context()
    proposal = agent("--non-editable").propose(ctx)
    assert "harness.py" in proposal.patch_text and "learning_rate = 3e-3" in proposal.patch_text
    assert "harness.py" in proposal.idea.reason and "auditor" in proposal.idea.reason
    applied = apply_proposal(proposal.patch_text, ctx.parent_files, EDITABLE)
    assert applied.status is NodeStatus.REJECTED and "harness.py" in applied.reason


def test_an_answer_without_labels_gives_its_first_line_as_title():
    proposal = agent("--no-title", name="bare").propose(context())
    assert proposal.idea.title == "I read train.py and changed the learning rate."
    assert proposal.idea.hypothesis.startswith("Raised the learning rate")
    assert proposal.idea.category == "other" and "no TITLE line" in proposal.idea.reason


def test_recursor_variables_stay_out_of_the_agents_environment_unless_passed(tmp_path, monkeypatch):
    monkeypatch.setenv("RECURSOR_TEST_SECRET", "s3cret")
    monkeypatch.setenv("AGENT_TEST_KEY", "k")
    names = tmp_path / "env"
    agent("--env-to", str(names)).propose(context())
    seen = names.read_text().split()
    assert "AGENT_TEST_KEY" in seen and not [n for n in seen if n.startswith("RECURSOR_")]

    agent("--env-to", str(names), env={**os.environ}).propose(context())
    assert "RECURSOR_TEST_SECRET" in names.read_text().split()


def test_patch_between_is_exact_where_a_short_context_is_ambiguous():
    periodic = "".join(f"w{i % 5} = {i % 5}\n" for i in range(40))
    old = {"train.py": periodic}
    new = {"train.py": periodic.replace("w3 = 3\n", "w3 = 33\n", 1)}  # the first of 8 alike lines
    short = apply_proposal(unified_diff(old, new), old, ["train.py"])
    assert short.status is NodeStatus.FAILED and "occurs" in short.reason  # why wider contexts exist
    text, inexact = patch_between(old, new)
    assert inexact == []
    applied = apply_proposal(text, old, ["train.py"])
    assert applied.files == new, applied.reason

    # a removed line starting with "-- " ends a diff's hunk early: whole-file blocks carry it
    old = {"train.py": 'a = 1\nNOTE = """\n-- keep\n"""\n'}
    new = {"train.py": 'a = 2\nNOTE = """\n-- changed\n"""\n'}
    text, inexact = patch_between(old, new)
    assert inexact == [] and apply_proposal(text, old, ["train.py"]).files == new

    # no final newline cannot be expressed in a patch: said, not hidden
    text, inexact = patch_between({"train.py": "a = 1"}, {"train.py": "a = 2"})
    assert inexact == ["train.py"]


def test_parse_answer_takes_the_last_labels_and_skips_the_echoed_template():
    out = "TITLE: <one line naming the change>\nnoise\n**TITLE:** Real one\nHYPOTHESIS: h\nmore h\n"
    assert parse_answer(out) == {"TITLE": "Real one", "HYPOTHESIS": "h\nmore h"}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie waiting for init to reap it is dead
