"""The static auditor: no idea of the library is blocked, every static cheat of the fixtures is
caught by the check it names, and every dynamic cheat gets through to the harness that catches it.

A fixture is a SEARCH/REPLACE patch against the vanilla `tiny-lm` program, headed by
`# expect: CHECK` and `# why: ...` lines.
"""

from __future__ import annotations

import functools
import re
import textwrap
from pathlib import Path

import pytest

import recursor.task.ideas as ideas_module
from recursor import patch as patches
from recursor.audit.static import review_patch
from recursor.task.ideas import load_ideas

TASK = Path(ideas_module.__file__).parent / "builtin" / "tiny_lm"
IDEAS = TASK / "ideas"
VANILLA = (TASK / "train.py").read_text()
HARNESS = (TASK / "harness.py").read_text()
EDITABLE = ("train.py",)
HERE = Path(__file__).parent
CHEATS = sorted((HERE / "cheats").glob("*.patch"))
HONEST = sorted((HERE / "honest").glob("*.patch"))
IDEA_KEYS = sorted(p.stem for p in IDEAS.glob("*.toml"))
# ideas allowed a (non-blocking) warning, with the reason; none needs one today
IDEA_WARNINGS: dict[str, str] = {}
DYNAMIC = {"causality", "budget.threads", "budget.evaluation", "fresh-data", "seed-consistency",
           "batch-independence", "checkpoint.training-data", "checkpoint.size",
           "held-out.transfer", "fail:output-contract", "judge"}
HEADER = re.compile(r"#\s*([a-z]+):\s*(.*)")


def read_fixture(path: Path) -> tuple[dict[str, str], str]:
    """The `# key: value` header lines of a fixture, and the patch text after them."""
    header: dict[str, str] = {}
    lines = path.read_text().splitlines(keepends=True)
    while lines and HEADER.match(lines[0]):
        key, value = HEADER.match(lines.pop(0)).groups()
        header[key] = value.strip()
    return header, "".join(lines)


def apply(text: str) -> tuple[dict[str, str], dict[str, str]]:
    before = {"train.py": VANILLA, "harness.py": HARNESS}
    return before, {**before, **patches.apply(patches.parse(text), before)}


def review(text: str):
    """The review a run makes: with the task's data, for the memorisation check."""
    before, after = apply(text)
    return review_patch(before, after, EDITABLE, corpus=_corpus())


@functools.cache
def _corpus():
    from recursor.audit.memorisation import task_corpus
    from recursor.task import load_task

    return task_corpus(load_task("tiny-lm"))


def expectation(path: Path) -> str:
    return read_fixture(path)[0]["expect"]


STATIC_CHEATS = [p for p in CHEATS if expectation(p).startswith("static.")]
DYNAMIC_CHEATS = [p for p in CHEATS if not expectation(p).startswith("static.")]


@pytest.fixture(scope="module")
def library():
    return {idea.key: idea for idea in load_ideas(IDEAS, editable=EDITABLE)}


@pytest.mark.parametrize("key", IDEA_KEYS)
def test_no_idea_of_the_library_is_blocked(library, key):
    after = patches.apply(library[key].patch, {"train.py": VANILLA})
    findings = review_patch({"train.py": VANILLA}, after, EDITABLE)
    assert not [f for f in findings if f.blocking], findings
    warned = {f.check for f in findings}
    assert warned <= ({IDEA_WARNINGS[key]} if key in IDEA_WARNINGS else set()), findings


def test_fixtures_cover_every_check():
    assert len(CHEATS) >= 16
    expected = {expectation(p) for p in CHEATS}
    static = {"static.network", "static.processes", "static.environment", "static.seed",
              "static.monkeypatch", "static.files", "static.dynamic-code", "static.time",
              "static.non-editable", "static.memorisation", "static.opaque-literal"}
    assert static | (DYNAMIC - {"held-out.transfer"}) <= expected
    assert expected <= static | DYNAMIC
    assert sum(expectation(p) == "causality" for p in CHEATS) >= 2


@pytest.mark.parametrize("path", CHEATS + HONEST, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_applies_and_compiles(path):
    header, text = read_fixture(path)
    if path.parent.name == "cheats":
        assert header.get("expect") and len(header.get("why", "")) > 20
    before, after = apply(text)
    changed = [name for name in after if after[name] != before.get(name)]
    assert changed
    for name in changed:
        compile(after[name], name, "exec")


@pytest.mark.parametrize("path", STATIC_CHEATS, ids=lambda p: p.stem)
def test_static_cheat_is_caught_by_its_check(path):
    header, text = read_fixture(path)
    findings = review(text)
    blocking = [f for f in findings if f.blocking]
    assert header["expect"] in {f.check for f in blocking}, findings
    _, after = apply(text)
    for f in findings:  # the evidence quotes the offending line of the patched file
        name, line, quoted = f.evidence.split(":", 2)
        assert after[name].splitlines()[int(line) - 1].strip() == quoted.strip()
        assert f.message.startswith("The patch")


# a cheat that carries the scored text in a literal is now seen before it runs, by what its
# literal holds; every other dynamic cheat is left to the harness and the evidence checks
LITERAL_CHECKS = {"static.memorisation", "static.opaque-literal"}


@pytest.mark.parametrize("path", [p for p in DYNAMIC_CHEATS if "sandbox" not in read_fixture(p)[0]],
                         ids=lambda p: p.stem)
def test_dynamic_cheat_passes_the_static_review(path):
    """What the runtime checks must catch gets to them (the cheats that need a weaker sandbox
    reach for files, which the static checks also name)."""
    header, text = read_fixture(path)
    assert header["expect"] in DYNAMIC
    findings = review(text)
    allowed = LITERAL_CHECKS if header["expect"] == "fresh-data" else set()
    assert {f.check for f in findings if f.blocking} <= allowed, findings


@pytest.mark.parametrize("path", HONEST, ids=lambda p: p.stem)
def test_honest_fixture_is_not_blocked(path):
    findings = review(read_fixture(path)[1])
    assert not [f for f in findings if f.blocking], findings


# ----------------------------------------------------------------------------- single checks

ANCHOR = "    torch.manual_seed(args.seed)\n"


def review_snippet(snippet: str):
    """Findings on `snippet` added to train(), right after the program seeds torch."""
    added = textwrap.indent(textwrap.dedent(snippet).strip() + "\n", "    ")
    after = VANILLA.replace(ANCHOR, ANCHOR + added)
    return review_patch({"train.py": VANILLA}, {"train.py": after}, EDITABLE)


@pytest.mark.parametrize("snippet, checks", [
    ("import time\ntime.sleep(1)", {"static.time"}),
    ("import signal as s\ns.alarm(0)", {"static.time"}),
    ("rng = np.random.default_rng(0)", {"static.seed"}),
    ("g = torch.Generator().manual_seed(42)", {"static.seed"}),
    ("g = torch.Generator().manual_seed(args.seed + 1)", set()),
    ("rng = np.random.default_rng([args.seed, 7])", set()),
    ("lr = [1e-3, 3e-3][args.seed % 2]", {"static.seed"}),
    ("s = args.seed\nif s > 2:\n    pass", {"static.seed"}),
    ("x = [s for s in range(3) if args.seed]", {"static.seed"}),
    ("setattr(args, 'seed', 5)", {"static.seed"}),
    ("seed = 1234\ntorch.manual_seed(seed)", {"static.seed"}),
    ("for seed in [1234]:\n    torch.manual_seed(seed)", {"static.seed"}),
    ("seed = args.seed\nseed += 1\ntorch.manual_seed(seed)", set()),
    ("setattr(F, 'gelu', F.relu)", {"static.monkeypatch"}),
    ("import sys\nsys.modules['numpy'] = None", {"static.monkeypatch"}),
    ("import builtins\nbuiltins.print = len", {"static.monkeypatch"}),
    ("torch.backends.cudnn.benchmark = True", set()),
    ("model_state = {}\nmodel_state['x'] = 1", set()),
    ("__import__('o' + 's').system('true')", {"static.processes", "static.dynamic-code"}),
    ("from os import system as run\nrun('true')", {"static.processes"}),
    ("x = getattr(os, 'sys' + 'tem')", {"static.processes", "static.dynamic-code"}),
    ("eval('1 + 1')", {"static.dynamic-code"}),
    ("import codecs\nexec(codecs.decode('cevag(1)', 'rot13'))", {"static.dynamic-code"}),
    ("x = open('notes.txt').read()", {"static.files"}),
    ("x = np.load(args.checkpoint + '.opt.npy')", set()),
    ("import pathlib\nx = pathlib.Path(args.checkpoint).with_suffix('.npy').read_bytes()", set()),
    ("p = os.path.join(os.path.dirname(args.checkpoint), 'extra.bin')\nx = np.fromfile(p)", set()),
    ("x = os.listdir('.')", {"static.files"}),
    ("x = os.listdir(os.path.dirname(args.data))", set()),
    ("x = os.listdir(os.path.dirname(os.path.dirname(args.data)))", {"static.files"}),
    ("x = '/' + 'etc/passwd'", {"static.files"}),
    ("x = os.getenv('HOME')", {"static.environment"}),
    ("import socket", {"static.network"}),
    ("x = 'https://example.com/data.txt'", {"static.network"}),
    ("import subprocess", {"static.processes"}),
])
def test_single_check(snippet, checks):
    findings = review_snippet(snippet)
    assert {f.check for f in findings if f.blocking} == checks, findings


def test_threads_are_a_warning_only():
    findings = review_snippet("import threading\nthreading.Thread(target=print).start()")
    assert {f.check for f in findings} == {"static.threads"}
    assert not any(f.blocking for f in findings)


def test_unpickling_is_blocked():
    # training can write a pickle whose __reduce__ runs code when predict loads it
    for snippet in ("x = torch.load(args.checkpoint, weights_only=False)",
                    "x = np.load(args.inputs, allow_pickle=True)"):
        findings = review_snippet(snippet)
        assert [(f.check, f.blocking) for f in findings] == [("static.dynamic-code", True)]
    assert review_snippet("x = torch.load(args.checkpoint, weights_only=True)") == []


def test_only_added_code_is_reviewed():
    assert review_patch({"train.py": VANILLA}, {"train.py": VANILLA}, EDITABLE) == []
    # the whole program as a new file: its own environment read and --seed argument are new
    fresh = review_patch({}, {"train.py": VANILLA}, EDITABLE)
    assert {f.check for f in fresh if f.blocking} == {"static.environment", "static.seed"}
    # moving the vanilla environment read is not a change; a second read is
    line = '    torch.set_num_threads(int(os.environ.get("RECURSOR_THREADS", "1")))\n'
    moved = VANILLA.replace(line, "").replace(ANCHOR, ANCHOR + line)
    assert review_patch({"train.py": VANILLA}, {"train.py": moved}, EDITABLE) == []
    twice = VANILLA.replace(ANCHOR, ANCHOR + line)
    found = review_patch({"train.py": VANILLA}, {"train.py": twice}, EDITABLE)
    second = twice[:twice.index(ANCHOR) + len(ANCHOR)].count("\n") + 1  # its line number
    assert [(f.check, f.evidence.split(":")[1]) for f in found if f.blocking] == [
        ("static.environment", str(second))]


def test_syntax_error_and_new_files():
    broken = review_patch({"train.py": VANILLA}, {"train.py": VANILLA + "def (:\n"}, EDITABLE)
    assert [f.check for f in broken] == ["static.syntax"] and broken[0].blocking
    extra = review_patch({"train.py": VANILLA}, {"notes.txt": "hi"}, EDITABLE)
    assert [f.check for f in extra] == ["static.non-editable"]
    assert "notes.txt" in extra[0].evidence
