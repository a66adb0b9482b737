"""The built-in idea library of `tiny-lm`: it loads, every patch applies to the vanilla program,
and every patched program still trains and predicts."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import recursor.task.ideas as ideas_module
from recursor import patch as patches
from recursor.errors import PatchApplyError
from recursor.task.ideas import load_ideas

TASK = Path(ideas_module.__file__).parent / "builtin" / "tiny_lm"
IDEAS = TASK / "ideas"
VANILLA = (TASK / "train.py").read_text()
KEYS = sorted(p.stem for p in IDEAS.glob("*.toml"))
DEFAULT_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


@pytest.fixture(scope="module")
def library():
    return {idea.key: idea for idea in load_ideas(IDEAS, editable=("train.py",))}


def patched(idea) -> str:
    return patches.apply(idea.patch, {"train.py": VANILLA})["train.py"]


def test_library_is_large_and_varied(library):
    assert len(library) >= 20
    titles = [idea.title for idea in library.values()]
    assert len(set(titles)) == len(titles), "two ideas share a title"
    categories = {idea.category for idea in library.values()}
    assert {"architecture", "optimizer", "schedule", "hyperparameter"} <= categories
    assert len(categories) >= 5


def test_must_have_ideas_are_there(library):
    for key in ("rmsnorm", "rotary", "relu2-mlp", "qk-norm", "tied-embeddings", "muon",
                "warmup-cosine", "wsd-schedule", "swiglu", "logit-softcap"):
        assert key in library


@pytest.mark.parametrize("key", KEYS)
def test_patch_applies_to_vanilla_and_compiles(library, key):
    src = patched(library[key])
    assert src != VANILLA
    compile(src, "train.py", "exec")


def test_alternatives_exclude_each_other(library):
    """Two values of the same knob cannot stack: the second patch no longer finds its text."""
    for a, b in [("lr-3e-3", "lr-3e-4"), ("warmup-cosine", "wsd-schedule"),
                 ("tied-embeddings", "zero-init-head")]:
        for first, second in [(a, b), (b, a)]:
            src = patched(library[first])
            with pytest.raises(PatchApplyError, match="not found"):
                patches.apply(library[second].patch, {"train.py": src})


def test_complementary_ideas_stack(library):
    src = VANILLA
    for key in ("muon", "rotary", "qk-norm", "value-residual", "unet-skips", "rmsnorm",
                "relu2-mlp", "wsd-schedule", "lr-3e-3", "context-32", "logit-softcap"):
        src = patches.apply(library[key].patch, {"train.py": src})["train.py"]
    compile(src, "train.py", "exec")


@pytest.mark.slow
def test_every_idea_runs_in_the_real_harness_and_the_auditor_passes_it(library, tmp_path):
    """Each patched program trains and predicts through the sandbox and the harness, held to
    the vanilla program's measured cost as its parent, and no auditor check blocks it: honest
    ideas are not mistaken for cheats."""
    from conftest import SMALL

    from recursor.audit.static import review_patch
    from recursor.executor.local import run_job
    from recursor.executor.sandbox import detect
    from recursor.loop.jobs import make_job, resolve_data
    from recursor.task import load_task

    task = load_task("tiny-lm", SMALL)
    data, sandbox = resolve_data(task), detect()

    def run_program(key, src, parent_usage=()):
        program = tmp_path / key / "program"
        program.mkdir(parents=True)
        (program / "train.py").write_text(src)
        job = make_job(task, program, tmp_path / key / "job", 1, "val_bpb", data,
                       sandbox=sandbox, parent_usage=parent_usage)
        return run_job(job)

    vanilla = run_program("vanilla", VANILLA)
    assert vanilla.ok, vanilla.reason
    parent = [vanilla.metrics["usage"]]

    def run_idea(key):
        src = patched(library[key])
        static = [f for f in review_patch({"train.py": VANILLA}, {"train.py": src},
                                          ["train.py"]) if f.blocking]
        if static:
            return f"static: {static}"
        result = run_program(key, src, parent)
        if not result.ok:
            return f"failed: {result.reason}"
        blocking = [f for f in result.metrics.get("findings", []) if f["blocking"]]
        return f"harness: {blocking}" if blocking else None

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = dict(zip(KEYS, pool.map(run_idea, KEYS), strict=True))
    failures = {key: why for key, why in outcomes.items() if why is not None}
    assert not failures, "\n\n".join(f"{key}: {why}" for key, why in failures.items())
