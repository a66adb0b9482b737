"""The LLM researcher with what small models write: comment-less quotes, small windows, crashes
in the trial. Against the loopback server that speaks the provider's protocol (kernel tasks:
test_llm_kernel_answers.py; repeats and patches that change nothing: test_llm_repeats.py)."""

from __future__ import annotations

import dataclasses

import pytest
from llmfake.server import FakeLLM, Reply
from small_models import (
    BATCH,
    HEADS,
    KEY,
    answer,
    context,
    hash_of,
    researcher,
    told,
)

from recursor.loop.candidates import add_candidate
from recursor.loop.config import RunConfig
from recursor.proposer import ProposalContext, ProposalFailed
from recursor.proposer.brief import task_brief
from recursor.proposer.factory import build_proposer
from recursor.proposer.llm.researcher import NOTE, LLMResearcher
from recursor.store import Idea, NodeStatus, RunStore
from recursor.task import load_task


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("RECURSOR_TEST_KEY", KEY)


def test_a_quote_without_the_trailing_comment_applies_and_says_how(tiny_lm_store):
    task, store = tiny_lm_store
    with FakeLLM([BATCH]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
    [call] = proposal.calls
    assert call.outcome == "ok"
    assert call.detail == "applied: block 1 (train.py): comments, line 38"
    # the loop records the rule with the node
    parent = store.nodes()[0]
    assert proposal.generous  # a model's patch: the whole ladder
    node = add_candidate(store, parent, proposal.idea, proposal.patch_text,
                         store.files(parent), task.spec.program.editable,
                         generous=proposal.generous)
    assert node.status is NodeStatus.RUNNING
    assert [a["rule"] for a in store.node(node.id).applied] == ["comments"]
    assert "batch_size = 64\n" in store.files(store.node(node.id))["train.py"]


def test_the_repair_message_quotes_the_nearest_line_and_the_block_filled_in(tiny_lm_store):
    task, store = tiny_lm_store
    warm = "    return learning_rate * min(1.0, (step + 1) / 10)"
    wrong = answer("Warm up the learning rate", "    return learning_rate * 0.5", warm)
    with FakeLLM([wrong, BATCH]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        repair = llm.requests[1].body["messages"][-1]["content"]
    assert [c.outcome for c in proposal.calls] == ["patch-error", "ok"]
    line = "    return learning_rate  # a constant schedule: no warmup, no decay"
    assert "line 188 of train.py" in repair and f"```\n{line}\n```" in repair
    assert f"<<<<<<< SEARCH\n{line}\n=======\n{warm}\n>>>>>>> REPLACE" in repair


def test_a_patch_that_leaves_a_name_undefined_goes_back_before_it_runs(tiny_lm_store):
    # recorded from the 1.5B model: a setting at module level written as an attribute, which
    # crashed three experiments with NameError before this check
    task, store = tiny_lm_store
    selfish = answer("Shorter context", "block_size = 64", "self.block_size = 32")
    plain = answer("Shorter context", "block_size = 64", "block_size = 32")
    with FakeLLM([selfish, plain]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        told = llm.requests[1].body["messages"][-1]["content"]
    assert [c.outcome for c in proposal.calls] == ["undefined-name", "ok"]
    assert "uses `self`, which is not defined there" in told and "train.py line" in told
    assert llm.requests[1].body["temperature"] == 0.7  # the same code came back at the same
    # a name the parent already left undefined is not the patch's doing
    from recursor.proposer.llm.lint import new_undefined_names

    before = {"a.py": "x = y\n"}
    assert new_undefined_names(before, {"a.py": "x = y\nz = 1\n"}) == ""
    assert "`w`" in new_undefined_names(before, {"a.py": "x = y\nz = w\n"})
    assert new_undefined_names(before, {"a.py": "x = (\n"}) == ""  # the auditor names that


def test_a_patch_whose_trial_crashes_goes_back_with_where_its_idea_is_set(tiny_lm_store):
    # recorded from the 1.5B model: "smaller block size" written as a smaller position
    # embedding alone, which crashed; shown the IndexError alone, it sent the same patch again
    import dataclasses

    task, store = tiny_lm_store
    wpe = ("self.wpe = nn.Embedding(block_size, n_embd)", "self.wpe = nn.Embedding(16, n_embd)")
    shrunk = answer("Smaller block size", *wpe, "architecture")
    plain = answer("Smaller block size", "block_size = 64", "block_size = 16", "architecture")
    tried: list[str] = []

    def trial(files):
        tried.append(files["train.py"])
        return ("training failed: IndexError: index out of range in self"
                if "nn.Embedding(16, n_embd)" in files["train.py"] else None)

    ctx = dataclasses.replace(context(task, store), trial=trial)
    with FakeLLM([shrunk, shrunk, plain]) as llm:
        proposal = researcher(llm, store).propose(ctx)
        told = [r.body["messages"][-1]["content"] for r in llm.requests]
        temperatures = [r.body.get("temperature") for r in llm.requests]
    assert [c.outcome for c in proposal.calls] == ["trial-failed", "repeat", "ok"]
    assert "IndexError: index out of range" in told[1]
    assert "train.py, line 37:\n```\nblock_size = 64" in told[1]  # where the idea's setting is
    assert temperatures == [None, 0.7, 0.7]  # after a crash the fix is new code: warmer
    assert len(tried) == 2  # the repeat is refused without a second trial
    # the repeat quotes the crash, not the advice to keep the idea that came with it: asked
    # for another direction, the model is not also told to keep this one
    assert "IndexError" in told[2] and "another direction" in told[2]
    assert "Keep the idea" not in told[2]
    # asked afresh, with the idea named: its crashing answer is not there to be copied
    shown = [m["role"] for m in llm.requests[1].body["messages"] if m["role"] != "system"]
    assert shown == ["user"] and "('Smaller block size')" in told[1]
    assert "block_size = 16" in proposal.patch_text


def test_after_a_patch_error_the_request_is_asked_again_without_the_refused_answer(
        tiny_lm_store):
    # shown its refused answer and asked to correct it, the 1.5B model sent it back word for
    # word 14 times in 21: a fix that needs only the file's lines is asked afresh, with a note
    task, store = tiny_lm_store
    wrong = answer("Warm up the learning rate", "    return learning_rate * 0.5",
                   "    return learning_rate * min(1.0, (step + 1) / 10)", "schedule")
    with FakeLLM([wrong, HEADS]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        again = llm.requests[1].body["messages"]
    assert [c.outcome for c in proposal.calls] == ["patch-error", "ok"]
    assert [m["role"] for m in again if m["role"] != "system"] == ["user"]
    first = llm.requests[0].body["messages"][-1]["content"]
    assert again[-1]["content"].startswith(first)  # the same request, then the note
    note = told(llm.requests[1])
    assert "could not be used" in note and "return learning_rate  # a constant schedule" in note
    assert "learning_rate * 0.5" not in again[-1]["content"].split(NOTE)[0]  # not its answer


def test_a_small_window_gets_the_compact_brief(tiny_lm_store):
    task, store = tiny_lm_store
    ctx = context(task, store)
    whole, compact = task_brief(ctx), task_brief(ctx, compact=True)
    assert len(compact) < 0.6 * len(whole)
    assert "def train(args):\n    ...\n" in compact  # bodies of the long file elided
    assert "batch_size = 32  # sequences per step" in compact  # the settings stay whole
    with FakeLLM([BATCH]) as llm:
        big = researcher(llm, store, context_tokens=32_000).propose(ctx)
        assert "def train(args):\n    ...\n" not in llm.requests[0].prompt
    with FakeLLM([BATCH]) as llm:
        small = researcher(llm, store, context_tokens=4096, max_tokens=1024).propose(ctx)
        assert "def train(args):\n    ...\n" in llm.requests[0].prompt
    assert "compact brief" in small.calls[0].detail and "compact" not in big.calls[0].detail


def test_the_brief_setting_forces_its_form_and_caps_the_ideas_listed(tiny_lm_store):
    task, store = tiny_lm_store
    ctx = context(task, store)
    listed = [line for line in task_brief(ctx).splitlines() if line.startswith("- ")
              and line.endswith(tuple(f"({i.category})" for i in task.ideas))]
    assert len(listed) > 6
    capped = task_brief(ctx, ideas=2)
    assert sum(capped.count(line) for line in listed) == 2
    with FakeLLM([BATCH]) as llm:
        r = researcher(llm, store, context_tokens=32_000)
        r.brief = "compact"  # fits whole, sent compact
        forced = r.propose(ctx)
        assert "def train(args):\n    ...\n" in llm.requests[0].prompt
    assert "compact brief" in forced.calls[0].detail
    with pytest.raises(ValueError, match="unknown brief form 'short'"):
        LLMResearcher(r.endpoint, brief="short")
    # from the run's settings, through the factory, to every researcher and the library
    config = RunConfig(proposer="mixed", models=(r.endpoint.to_json(),), brief="compact",
                       brief_ideas=3, idea_rule="cheapest")
    team = build_proposer(config, store, task)
    assert {(x.brief, x.brief_ideas) for x in team.researchers} == {("compact", 3)}
    assert team.library._proposer.rule == "cheapest"


def test_the_brief_history_setting_leaves_out_what_was_tried_and_no_step_tells_old_values(
        tiny_lm_store):
    from recursor.loop.candidates import add_candidate

    task, store = tiny_lm_store
    base = store.nodes()[0]
    with FakeLLM([answer("Halve the window", "block_size = 64", "block_size = 32",
                         "architecture")]) as llm:
        first = researcher(llm, store).propose(context(task, store))
    child = add_candidate(store, base, first.idea, first.patch_text, store.files(base),
                          task.spec.program.editable, generous=True)
    store.decide(child.id, NodeStatus.ACCEPTED, "better")
    ctx = context(task, store)
    assert "Already tried on node 1" in task_brief(ctx)
    assert "Already tried" not in task_brief(ctx, history=0)
    assert "Halve the window" not in task_brief(ctx, history=0)
    on_child = dataclasses.replace(ctx, parent=store.node(child.id),
                                   parent_files=store.files(store.node(child.id)),
                                   lineage=(base, store.node(child.id)))
    lineage = task_brief(on_child).split("## The parent: node")[1]
    assert "Halve the window" in lineage and "it helps" not in lineage  # no hypothesis
    with FakeLLM([BATCH]) as llm:
        r = researcher(llm, store)
    config = RunConfig(proposer="llm", models=(r.endpoint.to_json(),), brief_history=0)
    team = build_proposer(config, store, task)
    assert {x.brief_history for x in team.researchers} == {0}


def test_the_brief_states_the_machine_and_the_files(tiny_lm_store):
    task, store = tiny_lm_store
    brief = task_brief(context(task, store))
    assert "There is no GPU" in brief
    assert "You may edit: train.py" in brief and "You may not create new files" in brief


def test_a_task_may_let_ideas_create_files(tmp_path):
    import shutil

    from recursor.task.folder import BUILTIN

    folder = tmp_path / "gelu"
    shutil.copytree(BUILTIN / "kernels" / "gelu", folder)
    toml = (folder / "task.toml").read_text()
    (folder / "task.toml").write_text(toml.replace('editable = ["solution.py"]',
                                                   'editable = ["solution.py"]\n'
                                                   'new_files = ["kernels/*.c"]'))
    task = load_task(folder)
    assert task.may_write("kernels/gelu.c") and not task.may_write("reference.py")
    assert not task.may_write("gelu.c") and not task.may_write("kernels/../reference.py")
    store = RunStore.create(tmp_path / "run", {"task": "x"})
    base = store.add_node(None, None, task.program_files())
    patch = "kernels/gelu.c\n<<<<<<< SEARCH\n=======\nint f(void) { return 1; }\n>>>>>>> REPLACE\n"
    made = add_candidate(store, base, Idea(title="a C file"), patch, task.program_files(),
                         task.spec.program.editable, may_write=task.may_write)
    assert made.status is NodeStatus.RUNNING and "kernels/gelu.c" in store.files(made)
    refused = add_candidate(store, base, Idea(title="a C file"), patch.replace(
        "kernels/gelu.c", "reference.py"), task.program_files(), task.spec.program.editable,
        may_write=task.may_write)
    assert refused.status is NodeStatus.REJECTED and "non-editable" in refused.reason
    assert "kernels/*.c" in task_brief(context(task, store))
    store.close()


def test_a_generously_applied_patch_is_audited_on_what_it_made(tiny_lm_store):
    """The auditor reads the files the ladder made, not the patch text: a rule-breaking change
    placed by a generous rule is rejected like any other."""
    from recursor.audit.admission import apply_proposal

    task, store = tiny_lm_store
    files = task.program_files()
    for search, rule in (("batch_size = 32", "comments"), ("batch_size = 16", "stale-value"),
                         ("return learning_rate * 1", "fuzzy")):
        patch = ("train.py\n<<<<<<< SEARCH\n" + search + "\n=======\nimport os\nbatch_size = "
                 "int(os.environ.get('BATCH', '64'))\n>>>>>>> REPLACE\n")
        applied = apply_proposal(patch, files, task.spec.program.editable, generous=True)
        assert applied.status is NodeStatus.REJECTED and "static.environment" in applied.reason
        assert applied.matches and applied.matches[0].rule == rule


def test_a_title_that_copies_the_goal_is_replaced_by_what_the_patch_changes(tiny_lm_store):
    task, store = tiny_lm_store
    goal = "Lower the validation bits per byte (val_bpb) of a small byte-level GPT"
    echo = answer(goal, "block_size = 64", "block_size = 32")
    with FakeLLM([echo]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
    [call] = proposal.calls
    assert call.outcome == "ok" and "its title copied the task's goal" in call.detail
    assert proposal.idea.title == "block_size = 64 -> block_size = 32 (train.py)"
    assert "titled from the patch" in proposal.idea.reason

def test_the_format_names_the_file_and_a_block_without_one_is_for_the_only_editable_file(tiny_lm_store):
    task, store = tiny_lm_store
    placeholder = answer("Shorter context", "block_size = 64", "block_size = 32").replace(
        "PATCH:\ntrain.py\n", "PATCH:\n<file name>\n")
    with FakeLLM([placeholder]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        request = llm.requests[0].body["messages"][-1]["content"]
    assert "PATCH:\n<file name>\n<<<<<<< SEARCH" in request  # a placeholder, not a block to copy
    assert [c.outcome for c in proposal.calls] == ["ok"]
    assert "block 1 (train.py): comments" in proposal.calls[0].detail


def test_a_persona_whose_proposals_fail_does_not_take_every_turn(tiny_lm_store):
    from recursor.proposer.team import Team

    task, store = tiny_lm_store
    with FakeLLM(["no idea at all"] * 3 + [BATCH]) as llm:
        team = Team([researcher(llm, store, "contrarian"), researcher(llm, store, "systems")])
        with pytest.raises(ProposalFailed):
            team.propose(context(task, store))  # the contrarian's turn: three useless answers
        proposal = team.propose(context(task, store))
    assert proposal.idea.proposer == "llm:fake-model:systems"


def test_a_wrong_output_goes_back_for_repair_a_broken_rule_does_not(tiny_lm_store):
    from recursor.store import Finding

    task, store = tiny_lm_store
    parent = store.nodes()[0]
    with FakeLLM([BATCH, BATCH]) as llm:
        r = researcher(llm, store)
        wrong = store.add_node(parent.id, Idea(title="Fast GELU", proposer=r.name),
                               task.program_files(), "train.py\n<<<<<<< SEARCH\nx\n=======\ny\n"
                               ">>>>>>> REPLACE\n", "diff")
        store.add_findings(wrong.id, [Finding("kernel.correctness", True,
                                              "max abs error 9.08e+04 at (1457, 319)", "", seed=1)])
        store.decide(wrong.id, NodeStatus.REJECTED, "auditor: kernel.correctness: wrong result")
        cheat = store.add_node(parent.id, Idea(title="Env threads", proposer=r.name),
                               task.program_files(), "p", "diff")
        store.add_findings(cheat.id, [Finding("static.environment", True, "os.environ", "")])
        store.decide(cheat.id, NodeStatus.REJECTED, "auditor: static.environment")
        assert r._to_repair(context(task, store)).id == wrong.id
        r.propose(context(task, store))
        request = llm.requests[0].body["messages"][-1]["content"]
    assert f"repair node {wrong.id}" in request and "kernel.correctness" in request
    store.add_node(parent.id, Idea(title="Fast GELU", proposer=r.name,
                                   source=f"repair of node {wrong.id}"), task.program_files(),
                   "p", "d")
    assert r._to_repair(context(task, store)) is None  # the cheat is never 'repaired'


def test_a_cut_off_answer_is_asked_again_warmer_without_the_answer_to_copy(tiny_lm_store):
    # what the 1.5B model wrote on kernel-gelu, three times: a block quoting a method and
    # writing it back, then '>>>>>>> REPLACE' until the token limit
    task, store = tiny_lm_store
    klass = "class MLP" + store.files(store.nodes()[0])["train.py"].split("class MLP")[1]
    klass = klass.split("\n\n")[0]
    looping = (BATCH.split("PATCH:")[0] + f"PATCH:\n<<<<<<< SEARCH\n{klass}\n=======\n{klass}\n"
               ">>>>>>> REPLACE\n<<<<<<< SEARCH\n=======\n" + ">>>>>>> REPLACE\n" * 40)
    cut = Reply(text=looping, finish="length")
    with FakeLLM([cut, cut, BATCH]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
        bodies = [req.body for req in llm.requests]
    assert [c.outcome for c in proposal.calls] == ["truncated", "truncated", "ok"]
    assert "temperature" not in bodies[0] and bodies[1]["temperature"] == 0.7
    for body in bodies[1:]:  # the same request again, never the cut-off answer
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        asked = body["messages"][-1]["content"]
        assert asked.startswith(bodies[0]["messages"][-1]["content"])
        assert asked.count("cut off at the token limit") == 1
        assert f"block 1 quoted {len(klass.splitlines())} lines and wrote them back" in asked
        assert "only the lines you change" in asked


def test_no_repair_call_is_made_once_the_runs_time_is_up(tiny_lm_store):
    import dataclasses
    import time

    task, store = tiny_lm_store
    wrong = answer("Double the batch size", "BATCH_SIZE = 16", "BATCH_SIZE = 64")
    ctx = dataclasses.replace(context(task, store), deadline=time.monotonic() - 1)
    with FakeLLM([wrong, BATCH]) as llm:
        with pytest.raises(ProposalFailed) as err:
            researcher(llm, store).propose(ctx)
        assert len(llm.requests) == 1
    assert [c.outcome for c in err.value.calls] == ["patch-error"]  # kept for the record
    assert "time budget ended after 1 calls" in err.value.reason


def test_a_persona_with_a_failed_experiment_to_repair_takes_the_next_turn(tiny_lm_store):
    from recursor.proposer.team import Team

    task, store = tiny_lm_store
    parent = store.nodes()[0]
    with FakeLLM([BATCH, BATCH]) as llm:
        systems, contrarian = researcher(llm, store, "systems"), researcher(llm, store, "contrarian")
        team = Team([systems, contrarian])
        crashed = store.add_node(parent.id, Idea(title="Fused step", proposer=contrarian.name),
                                 task.program_files(), "train.py\n<<<<<<< SEARCH\nx\n=======\n"
                                 "y\n>>>>>>> REPLACE\n", "diff")
        store.decide(crashed.id, NodeStatus.FAILED, "seed 1: RuntimeError: shape mismatch")
        # the contrarian has had a turn and the systems researcher none, yet the repair goes first
        assert team.pick(context(task, store)) is contrarian
        team.propose(context(task, store))
        assert f"repair node {crashed.id}" in llm.requests[0].body["messages"][-1]["content"]


def test_a_direction_the_parent_already_took_in_its_own_words_is_not_listed(tiny_lm_store):
    # after a model's own `block_size = 32` was accepted, the library's "Shorter context:
    # block_size 32" still listed drew a 1.5B model back to the same change, call after call
    task, store = tiny_lm_store
    base = store.nodes()[0]
    files = store.files(base)
    files["train.py"] = files["train.py"].replace(
        "block_size = 64  # context length in bytes", "block_size = 32  # shorter windows")
    child = store.add_node(base.id, Idea(title="Shorter windows", category="hyperparameter",
                                         hypothesis="more steps", proposer="llm:m:systems"),
                           files)
    store.decide(child.id, NodeStatus.ACCEPTED, "better beyond noise")
    nodes = tuple(store.nodes())
    ctx = ProposalContext(task=task, parent=nodes[1], parent_files=store.files(nodes[1]),
                          lineage=nodes, nodes=nodes, seed=0,
                          programs={hash_of(store, n): n.id for n in nodes})
    brief = task_brief(ctx)
    library = brief.split("## Known directions")[1]
    shorter = next(i.title for i in task.ideas if "block_size 32" in i.title)
    assert shorter not in library
    assert "Higher learning rate" in library and "Rotary position embeddings" in library
    assert "in its code already" in brief.split("## The parent: node")[1].splitlines()[0]
    # on the baseline itself the direction is open again
    assert shorter in task_brief(context(task, store)).split("## Known directions")[1]


def test_a_correction_written_against_the_last_answer_is_applied_on_top_of_it(tiny_lm_store):
    # asked to fix its answer, a 1.5B model quotes the lines its own last answer wrote (9 of 12
    # repairs that ended on a patch error): the file it sees is its candidate, not the parent
    task, store = tiny_lm_store
    first = answer("Warm up the learning rate", "learning_rate = 1e-3",
                   "learning_rate = 1e-3\nwarmup_steps = warmup_fraction * 100")
    fixed = answer("Warm up the learning rate", "warmup_steps = warmup_fraction * 100",
                   "warmup_steps = 20")
    with FakeLLM([first, fixed]) as llm:
        proposal = researcher(llm, store).propose(context(task, store))
    assert [c.outcome for c in proposal.calls] == ["undefined-name", "ok"]
    assert "last answer" in proposal.calls[1].detail and "last answer" in proposal.idea.reason
    from recursor.audit.admission import apply_proposal

    parent = store.files(store.nodes()[0])
    made = apply_proposal(proposal.patch_text, parent, ["train.py"]).files["train.py"]
    assert "learning_rate = 1e-3\nwarmup_steps = 20\n" in made
    assert "warmup_fraction" not in made
    # the same correction with nothing before it to stand on is a patch error, not a guess
    with FakeLLM([fixed, fixed, fixed]) as llm, pytest.raises(
            ProposalFailed, match="SEARCH text was not found"):
        researcher(llm, store).propose(context(task, store))
