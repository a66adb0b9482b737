"""Answers that make nothing new: a program the run holds, the same refused answer again, a
patch that changes nothing or re-makes its parent's change. Against the loopback server that
speaks the provider's protocol."""

from __future__ import annotations

import pytest
from llmfake.server import FakeLLM
from small_models import BATCH, HEADS, KEY, answer, context, hash_of, researcher, told

from recursor.loop.candidates import add_candidate
from recursor.proposer import ProposalFailed
from recursor.proposer.llm.researcher import NOTE


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("RECURSOR_TEST_KEY", KEY)


def _holding_batch_64(task, store):
    """A context whose run has tried the model's "Double the batch size", and that node."""
    parent = store.nodes()[0]
    with FakeLLM([BATCH]) as llm:
        first = researcher(llm, store).propose(context(task, store))
    tried = add_candidate(store, parent, first.idea, first.patch_text, store.files(parent),
                          task.spec.program.editable, generous=True)
    ctx = context(task, store)
    return type(ctx)(**{**ctx.__dict__, "programs": {hash_of(store, tried): tried.id}}), tried


def test_a_program_the_run_holds_is_a_repeat_with_what_was_tried(tiny_lm_store):
    task, store = tiny_lm_store
    ctx, tried = _holding_batch_64(task, store)
    with FakeLLM([BATCH, HEADS]) as llm:
        proposal = researcher(llm, store).propose(ctx)
        follow = llm.requests[1].body["messages"][-1]["content"]
    assert [c.outcome for c in proposal.calls] == ["repeat", "ok"]
    assert f"same program as node {tried.id} ('Double the batch size'" in follow
    assert "What the run has tried (1 ideas):\n- Double the batch size (hyperparameter)" in follow
    # a direction of the library the run has not tried, where its change goes, never its patch;
    # not the library's own "Larger batch: 64", which makes the program the run holds
    assert ("Take this direction instead, which the run has not tried: Smaller batch: 16 "
            "sequences per step (twice the steps) (hyperparameter)") in follow
    assert "train.py, line 38:\n```\nbatch_size = 32  # sequences per step" in follow
    note = follow.split(NOTE)[-1]
    assert "batch_size = 16" not in note and "Larger batch" not in note
    # the model answered something else: the direction is on record, the library's key is not
    assert "given the library's direction 'Smaller batch" in proposal.idea.reason
    assert "made its program" not in proposal.idea.reason and proposal.idea.key == ""


def test_a_direction_the_model_implements_carries_the_librarys_key(tiny_lm_store):
    task, store = tiny_lm_store
    ctx, _ = _holding_batch_64(task, store)
    halved = answer("Halve the batch", "batch_size = 32", "batch_size = 16")
    with FakeLLM([BATCH, halved]) as llm:
        proposal = researcher(llm, store).propose(ctx)
    assert [c.outcome for c in proposal.calls] == ["repeat", "ok"]
    assert proposal.idea.key == "batch-16"  # neither the library nor the brief offers it again
    assert proposal.idea.title == "Halve the batch"  # the model's words for its own patch
    assert "and made its program" in proposal.idea.reason


def test_researchers_of_a_family_are_sent_different_ways(tiny_lm_store):
    task, store = tiny_lm_store
    ctx, _ = _holding_batch_64(task, store)
    follows = []
    for name in ("optimizer", "architecture"):
        with FakeLLM([BATCH, HEADS]) as llm:
            r = researcher(llm, store, persona=name)
            r.family = ("optimizer", "architecture")
            r.propose(ctx)
            follows.append(llm.requests[1].body["messages"][-1]["content"])
    picked = [f.split("has not tried: ")[1].split(" (")[0] for f in follows]
    assert picked[0] != picked[1]


def test_with_no_library_left_the_model_is_asked_for_another_direction(tiny_lm_store):
    import dataclasses

    task, store = tiny_lm_store
    ctx, _ = _holding_batch_64(task, store)
    ctx = dataclasses.replace(ctx, task=dataclasses.replace(task, ideas=()))
    with FakeLLM([BATCH, HEADS]) as llm:
        proposal = researcher(llm, store).propose(ctx)
        follow = llm.requests[1].body["messages"][-1]["content"]
    assert [c.outcome for c in proposal.calls] == ["repeat", "ok"]
    assert "Take another direction" in follow and "has not tried:" not in follow
    assert "library's direction" not in proposal.idea.reason


def test_repeated_repeats_change_persona_and_temperature(tiny_lm_store):
    task, store = tiny_lm_store
    broken = answer("Double the batch size", "BATCH_SIZE = 16", "BATCH_SIZE = 64")
    with FakeLLM([broken, broken, broken, HEADS]) as llm:
        r = researcher(llm, store)
        r.max_repairs = 3
        proposal = r.propose(context(task, store))
        bodies = [req.body for req in llm.requests]
        last = [req.body["messages"][-1]["content"] for req in llm.requests]
        systems = {req.body["messages"][0]["content"] for req in llm.requests}
    assert [c.outcome for c in proposal.calls] == ["patch-error", "repeat", "repeat", "ok"]
    # the same answer sent back: the next request is warmer; twice: the fourth is hotter still,
    # from another persona
    assert "temperature" not in bodies[1] and bodies[2]["temperature"] == 0.7
    assert bodies[3]["temperature"] == 1.0
    assert "You answer as an optimisation researcher" in last[0]
    assert "architecture researcher" not in last[2] and "architecture researcher" in last[3]
    assert len(systems) == 1  # one system prompt for every persona: a server's cache holds
    assert "after 2 repeats, asked as the architecture" in proposal.idea.reason
    assert proposal.idea.proposer == "llm:fake-model:optimizer"  # its turns are still its own


def test_a_model_that_only_repeats_fails_the_proposal(tiny_lm_store):
    task, store = tiny_lm_store
    broken = answer("Double the batch size", "BATCH_SIZE = 16", "BATCH_SIZE = 64")
    with FakeLLM([broken] * 3) as llm, pytest.raises(ProposalFailed) as err:
        researcher(llm, store).propose(context(task, store))
    assert [c.outcome for c in err.value.calls] == ["patch-error", "repeat", "repeat"]


def test_a_patch_that_changes_nothing_is_shown_the_lines_its_idea_names(tiny_lm_store):
    # what the 1.5B model wrote for "a smaller block size": a class quoted and written back
    task, store = tiny_lm_store
    klass = store.files(store.nodes()[0])["train.py"].split("class MLP")[1].split("\n\n")[0]
    same = answer("Use a smaller block size", "class MLP" + klass, "class MLP" + klass,
                  "architecture")
    smaller = answer("Use a smaller block size", "block_size = 64", "block_size = 32",
                     "architecture")
    with FakeLLM([same, smaller]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        follow = told(llm.requests[1])
    assert [c.outcome for c in proposal.calls] == ["no-change", "ok"]
    assert "the patch changes nothing" in follow
    assert "train.py, line 37:\n```\nblock_size = 64  # context length in bytes\n```" in follow
    assert "batch_size = 32" not in follow  # only what the idea names
    assert "REPLACE text is the same as its SEARCH text" in follow


def test_a_change_the_parent_already_has_is_told_so(tiny_lm_store):
    # recorded from the 1.5B model, seven times in one run: the parent's own change made again
    # ("Reduce block_size to 16" on a parent at 16), SEARCH quoting the value it read in the
    # history; told its REPLACE equalled its SEARCH, which it did not, it wrote the same
    task, store = tiny_lm_store
    files = {**store.files(store.nodes()[0])}
    files["train.py"] = files["train.py"].replace("block_size = 64", "block_size = 16")
    ctx = context(task, store)
    ctx = type(ctx)(**{**ctx.__dict__, "parent_files": files})
    again = answer("Reduce block_size to 16", "block_size = 64", "block_size = 16",
                   "architecture")
    with FakeLLM([again, BATCH]) as llm:
        proposal = researcher(llm, store).propose(ctx)
        follow = told(llm.requests[1])
    assert [c.outcome for c in proposal.calls] == ["no-change", "ok"]
    assert "already reads as your REPLACE writes it" in follow and "SEARCH text" not in follow
    assert "train.py, line 37:\n```\nblock_size = 16  # context length in bytes\n```" in follow


def test_the_same_empty_patch_under_a_new_idea_is_shown_what_that_idea_names(tiny_lm_store):
    # the 1.5B model kept quoting class GPT unchanged and changed its title: first a copy of
    # the goal (it names nothing the file sets), then 'Increase the learning rate to 3e-4'
    task, store = tiny_lm_store
    klass = store.files(store.nodes()[0])["train.py"].split("class MLP")[1].split("\n\n")[0]
    vague = answer("Lower the validation bits per byte", "class MLP" + klass, "class MLP" + klass)
    learning = answer("Increase the learning rate to 3e-4", "class MLP" + klass,
                      "class MLP" + klass)
    fixed = answer("Increase the learning rate to 3e-4", "learning_rate = 1e-3",
                   "learning_rate = 3e-4")
    with FakeLLM([vague, learning, fixed]) as llm:
        r = researcher(llm, store)
        proposal = r.propose(context(task, store))
        follows = [told(req) for req in llm.requests[1:]]
    assert [c.outcome for c in proposal.calls] == ["no-change", "no-change", "ok"]
    assert "the settings they make at the top" in follows[0] and "n_layer = 4" in follows[0]
    assert "train.py, line 39:\n```\nlearning_rate = 1e-3\n```" in follows[1]
    assert "n_layer = 4" not in follows[1]


def test_the_formats_example_sent_as_a_patch_is_told_so_with_the_lines_its_idea_names(
        tiny_lm_store):
    # recorded from the 1.5B model, asked for another direction after a repeat: a new title
    # over the format's example, placeholders and all
    task, store = tiny_lm_store
    lost = ("TITLE: Increase block_size to 128 and add more layers of width 64\n"
            "CATEGORY: architecture\nHYPOTHESIS: lower val_bpb.\nRATIONALE: more context.\n"
            "PATCH:\n<file name>\n<<<<<<< SEARCH\n<only the lines you change, copied exactly "
            "from the current file (often 1 to 5 lines)>\n=======\n<those lines as they should "
            "become>\n>>>>>>> REPLACE\n")
    with FakeLLM([lost, BATCH]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        follow = told(llm.requests[1])
    assert [c.outcome for c in proposal.calls] == ["bad-answer", "ok"]
    assert "the format's example" in follow and "not found" not in follow
    assert "train.py, line 37:\n```\nblock_size = 64  # context length in bytes\n```" in follow


def test_a_model_lost_by_its_last_try_is_given_a_direction_for_it(tiny_lm_store):
    task, store = tiny_lm_store
    misquoted = answer("Decay faster", "    return learning_rate * 0.5",
                       "    return learning_rate * 0.25")
    example = ("TITLE: Smaller context\nCATEGORY: hyperparameter\nHYPOTHESIS: h\nRATIONALE: r\n"
               "PATCH:\ntrain.py\n<<<<<<< SEARCH\n<only the lines you change, copied exactly>\n"
               "=======\n<those lines as they should become>\n>>>>>>> REPLACE\n")
    halved = answer("Halve the batch", "batch_size = 32", "batch_size = 16")
    with FakeLLM([misquoted, example, halved]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        said = [told(r) for r in llm.requests]
    assert [c.outcome for c in proposal.calls] == ["patch-error", "bad-answer", "ok"]
    assert "has not tried" not in said[1]  # the second try is the model's own
    assert "the format's example" in said[2]  # what was wrong, then the direction
    assert "Take this direction instead, which the run has not tried: Smaller batch" in said[2]
    assert "train.py, line 38:\n```\nbatch_size = 32" in said[2]
    assert proposal.idea.key == "batch-16"
    assert "after 2 answers that could not be used, and made its program" in proposal.idea.reason
