"""The built-in idea library of `tiny-lm`: it loads, every patch applies to the vanilla program,
and every patched program still trains and predicts."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import recursor.task.ideas as ideas_module
from recursor import patch as patches
from recursor.errors import PatchApplyError
from recursor.task.ideas import load_ideas

TASK = Path(ideas_module.__file__).parent / "builtin" / "tiny_lm"
IDEAS = TASK / "ideas"
VANILLA = (TASK / "train.py").read_text()
KEYS = sorted(p.stem for p in IDEAS.glob("*.toml"))
DEFAULT_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


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


def _run_idea(key: str, src: str, data: Path, root: Path) -> str | None:
    """Train and predict with one patched program; None if it works, else what went wrong."""
    work = root / key
    work.mkdir()
    (work / "train.py").write_text(src)
    rng = np.random.default_rng(0)
    np.save(work / "x.npy", rng.integers(0, 256, size=(4, 256), dtype=np.uint8))
    env = {**os.environ, "RECURSOR_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for argv in (["train", "--data", str(data), "--seed", "1", "--checkpoint", "m.pt"],
                 ["predict", "--checkpoint", "m.pt", "--inputs", "x.npy", "--outputs", "y.npy"]):
        proc = subprocess.run([sys.executable, "train.py", *argv], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            return f"{argv[0]} failed:\n{proc.stderr[-2000:]}"
    logits = np.load(work / "y.npy")
    if logits.shape != (4, 256, 256):
        return f"logits of shape {logits.shape}"
    if not np.isfinite(logits).all():
        return "non-finite logits"
    return None


@pytest.mark.slow
def test_every_patched_program_trains_and_predicts(library, tmp_path):
    corpus = Path(os.environ.get("RECURSOR_DATA", DEFAULT_DATA)) / "tinyshakespeare.txt"
    if not corpus.exists():
        pytest.skip(f"no {corpus}")
    text = corpus.read_bytes()
    # a few steps' worth of real text: 8,200 bytes is at least one step even at batch 64
    start = int(np.random.default_rng(1).integers(0, len(text) - 8200))
    data = tmp_path / "train.bin"
    data.write_bytes(text[start : start + 8200])
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(_run_idea, key, patched(idea), data, tmp_path)
                   for key, idea in library.items()}
        failures = {key: f.result() for key, f in futures.items() if f.result() is not None}
    assert not failures, "\n\n".join(f"{key}: {why}" for key, why in failures.items())
