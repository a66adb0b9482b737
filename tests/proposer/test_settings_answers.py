"""A PATCH section of settings alone (`n_layer = 6`), with no SEARCH/REPLACE block: taken as the
lines of the editable file that set those names, when there is no doubt which lines those are."""

from __future__ import annotations

import pytest
from llmfake.server import FakeLLM
from small_models import KEY, context, researcher

from recursor.proposer.llm.answer import AnswerError, parse_answer, settings_patch

HEAD = "TITLE: Wider\nCATEGORY: hyperparameter\nHYPOTHESIS: h\nRATIONALE: r\nPATCH:\n"
FILE = ('"""A model."""\nimport math\n\nn_layer = 4\nn_embd = 64  # width\nname = "a#b"\n'
        "scale = 2\nscale = 3\n\n\ndef f():\n    width = 8\n    return width\n")


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("RECURSOR_TEST_KEY", KEY)


@pytest.mark.parametrize("patch", [
    "n_embd = 96\n",
    "train.py\nn_embd = 96\n",
    "```python\n# train.py\nn_embd = 96\n```\nThis widens the model.\n",
    "train.py, line 5:\n```\nn_embd = 96\n```\n",
    "```python\n# train.py\n=======\nn_embd = 96\n>>>>>>> REPLACE\n```\n",  # no SEARCH
])
def test_settings_alone_are_read_as_settings(patch):
    answer = parse_answer(HEAD + patch)
    assert answer.settings == ("n_embd = 96",) and answer.patch == ""


@pytest.mark.parametrize("patch", [
    "n_embd = 96\nprint(n_embd)\n",  # code that is not a setting
    "n_embd = compute()\n",  # not a constant
    "self.n_embd = 96\n",  # not a name
    "n_embd = 96\nThis widens the model.\n",  # prose outside a fence is not skipped
])
def test_anything_but_settings_is_not_read_as_settings(patch):
    try:
        answer = parse_answer(HEAD + patch)
    except AnswerError:
        return
    assert answer.settings == ()


def test_settings_become_the_lines_that_set_them_keeping_the_files_comments():
    patch, note = settings_patch(("n_embd = 96", "n_layer = 6"), {"train.py": FILE},
                                 ["train.py"])
    assert patch == ("train.py\n<<<<<<< SEARCH\nn_embd = 64  # width\n=======\n"
                     "n_embd = 96  # width\n>>>>>>> REPLACE\n"
                     "train.py\n<<<<<<< SEARCH\nn_layer = 4\n=======\nn_layer = 6\n"
                     ">>>>>>> REPLACE\n")
    assert "set n_embd, n_layer" in note
    kept, _ = settings_patch(('name = "c"',), {"train.py": FILE}, ["train.py"])
    assert 'name = "c"\n>>>>>>> REPLACE' in kept  # a '#' inside the string is no comment


@pytest.mark.parametrize(("line", "reason"), [
    ("scale = 4", "scale is set more than once in train.py"),
    ("width = 16", "width is not set at the top level of train.py"),  # a function's local
    ("depth = 2", "depth is not set at the top level"),
])
def test_a_setting_with_no_single_place_is_told_so(line, reason):
    patch, note = settings_patch((line,), {"train.py": FILE}, ["train.py"])
    assert patch == "" and reason in note and "<<<<<<< SEARCH" in note  # the format again


def test_a_settings_answer_becomes_a_proposal_that_says_how_it_was_taken(tiny_lm_store):
    task, store = tiny_lm_store
    text = HEAD + "train.py, line 34:\n```\nn_layer = 6\n```\n"
    with FakeLLM([text]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
    (call,) = proposal.calls
    assert call.outcome == "ok" and "set n_layer with no SEARCH/REPLACE block" in call.detail
    assert "<<<<<<< SEARCH\nn_layer = 4\n=======\nn_layer = 6\n" in proposal.patch_text
