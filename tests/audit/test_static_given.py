"""What a task hands its program beside the usual arguments, and the loaders that read it.

The chat defender's program is given a copy of the model's folder (`--model`, declared in its
task.toml as `program.given`) and loads it with transformers' `from_pretrained`; every library
idea of every built-in task must pass the auditor as the loop runs it. A loader given anything
but a path the harness handed over, and every other way into the hub, is network use.
"""

from __future__ import annotations

import pytest

from recursor.audit.admission import apply_proposal
from recursor.audit.static import review_patch
from recursor.task import load_task
from recursor.task.folder import builtin_tasks
from recursor.task.spec import ProgramSpec

CHAT = load_task("redteam-chat-defend")
BASELINE = CHAT.program_files()["defence.py"]
BODY = '    steer = None  # no steering vector\n'


@pytest.mark.parametrize("name", sorted(builtin_tasks()))
def test_every_library_idea_of_every_built_in_task_passes_the_auditor_as_the_loop_runs_it(name):
    task = load_task(name)
    files = task.program_files()
    for idea in task.ideas:
        applied = apply_proposal(idea.patch_text, files, task.spec.program.editable,
                                 may_write=task.may_write, given=task.spec.program.given)
        assert applied.files is not None, (idea.key, applied.reason)
        assert not [f for f in applied.findings if f.blocking], (idea.key, applied.findings)


def _review(lines: str, given=("model", "out")):
    body = "".join(f"    {line}\n" for line in lines.strip().splitlines())
    after = BASELINE.replace(BODY, BODY + body)
    assert after != BASELINE
    found = review_patch({"defence.py": BASELINE}, {"defence.py": after}, ["defence.py"],
                         given=given)
    return {f.check for f in found if f.blocking}


LOAD = """
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
model = AutoModelForCausalLM.from_pretrained(model_dir).float().eval()
"""


@pytest.mark.parametrize("lines", [
    LOAD,
    "import transformers\nconfig = transformers.AutoConfig.from_pretrained(model_dir)",
    "from transformers import AutoModelForCausalLM as Lm\n"
    "m = Lm.from_pretrained(pretrained_model_name_or_path=model_dir)",
    "from transformers import GenerationConfig\ng = GenerationConfig(max_new_tokens=8)",
])
def test_the_model_folder_the_harness_gave_may_be_loaded(lines):
    assert _review(lines) == set()


@pytest.mark.parametrize("lines", [
    # a larger sibling of the model, by its hub name
    "from transformers import AutoModelForCausalLM\n"
    "m = AutoModelForCausalLM.from_pretrained('HuggingFaceTB/SmolLM2-360M-Instruct')",
    # the given folder when it is there, else the hub's copy
    "import os\nfrom transformers import AutoTokenizer\n"
    "src = model_dir if os.path.isdir(model_dir) else 'HuggingFaceTB/SmolLM2-135M-Instruct'\n"
    "tok = AutoTokenizer.from_pretrained(src)",
    "from transformers import pipeline\nteacher = pipeline('text-generation')",
    "from transformers.utils.hub import cached_file\nx = cached_file(model_dir, 'config.json')",
    "import transformers\nmake = getattr(transformers, 'pipe' + 'line')",
    # the loader taken aside: what it will be called on is not read
    "from transformers import AutoModelForCausalLM\n"
    "load = AutoModelForCausalLM.from_pretrained\nm = load(model_dir)",
    # a model handed back to the hub
    "from transformers import AutoModelForCausalLM\n"
    "m = AutoModelForCausalLM.from_pretrained(model_dir)\nm.push_to_hub('someone/guard')",
    "from huggingface_hub import snapshot_download\np = snapshot_download('org/refusals')",
    # a client the auditor cannot trace, pointed at the given folder: a loader's name only
    # is let through there
    "page = data['client'].urlopen(model_dir)",
])
def test_any_other_way_into_the_hub_is_network_use(lines):
    assert "static.network" in _review(lines)


def test_a_folder_is_given_only_by_the_task_that_gives_it():
    # the same loading in a program whose harness passes no --model: its own option's default
    assert "static.network" in _review(LOAD, given=())
    assert "static.network" not in _review(LOAD, given=("model",))


def test_given_arguments_are_named_as_the_program_reads_them():
    with pytest.raises(ValueError, match="argument names"):
        ProgramSpec(files=("a.py",), editable=("a.py",), given=("--model",))
    assert ProgramSpec(files=("a.py",), editable=("a.py",), given=("model",)).given == ("model",)
