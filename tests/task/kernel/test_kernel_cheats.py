"""Kernel cheats (tests/task/kernel/cheats/*.py, each a solution.py that games the measurement in a
known way): each runs through the real harness, in the sandbox, as the loop runs it, and is
rejected for the check its docstring's first line names (`expect: kernel.aliasing ...`). A
cheat the harness makes pointless says `expect: harmless` (its docstring says why, with the
numbers): it must pass as the honest code it then is, without a gain. A `task: NAME` line runs
it on that kernel task instead of kernel-softmax. The honest baseline passes every defence, and
the static review names the cheats written in plain Python."""

from __future__ import annotations

import ast
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from recursor.audit.static import review_patch
from recursor.executor.local import run_job
from recursor.executor.sandbox import detect
from recursor.loop.jobs import make_job
from recursor.task import load_task

pytestmark = pytest.mark.slow  # real kernel runs: seconds to minutes each

CHEATS = sorted(Path(__file__).with_name("cheats").glob("*.py"))
# few trials: each defence fires on the first offending call or within a handful
QUICK = {"budget.trials": 16, "budget.warmup": 2}


def expected(path: Path) -> set[str]:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return set(doc.splitlines()[0].removeprefix("expect:").split())


def task_of(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    names = [line.removeprefix("task:").strip() for line in doc.splitlines()[1:3]
             if line.startswith("task:")]
    return names[0] if names else "kernel-softmax"


@pytest.fixture(scope="module")
def softmax():
    return load_task("kernel-softmax", QUICK)


def run(task, solution: str, where: Path):
    program = where / "program"
    program.mkdir(parents=True)
    for name in task.spec.program.files:
        shutil.copy(task.root / name, program / name)
    (program / "solution.py").write_text(solution)
    return run_job(make_job(task, program, where / "job", 1, "speedup", {}, sandbox=detect()))


def test_the_baseline_passes_every_defence(softmax, tmp_path):
    result = run(softmax, (softmax.root / "solution.py").read_text(), tmp_path)
    assert result.ok, result.reason
    assert result.metrics["findings"] == []
    timing = result.metrics["timing"]
    lo, hi = timing["speedup_ci95"]
    # itself against itself; wide: these tests share a busy machine with others
    assert 0.5 < result.value < 2.0 and lo <= result.value <= hi
    assert timing["bound_ms"] < timing["candidate_ms"]


@pytest.fixture(scope="module")
def outcomes(softmax, tmp_path_factory):
    """Every cheat's result, two at a time (each defence is robust to a busy machine; the
    honest baseline's own speed is checked alone, above)."""
    root = tmp_path_factory.mktemp("cheats")
    tasks = {name: load_task(name, QUICK) for name in {task_of(c) for c in CHEATS}}
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda c: run(tasks[task_of(c)], c.read_text(), root / c.stem), CHEATS)
        return dict(zip([c.stem for c in CHEATS], results, strict=True))


@pytest.mark.parametrize("cheat", CHEATS, ids=lambda p: p.stem)
def test_each_cheat_is_rejected_for_its_reason(outcomes, cheat):
    result = outcomes[cheat.stem]
    assert result.ok, f"the harness should report findings, not fail: {result.reason}"
    checks = {f["check"] for f in result.metrics["findings"] if f["blocking"]}
    if expected(cheat) == {"harmless"}:
        # the shortcut never fires: the code is the honest code it falls back to, and gains
        # nothing (the bound is the baseline's own, wide for a busy machine)
        assert not checks, result.metrics["findings"]
        assert result.value < 2.0, result.metrics["timing"]
    else:
        assert expected(cheat) <= checks, result.metrics["findings"]


def test_a_compile_error_fails_the_node_with_the_compilers_message(softmax, tmp_path):
    broken = (softmax.root / "solution.py").read_text().replace(
        "import torch.nn as nn\n",
        'import torch.nn as nn\n\nimport ckernel\n\n_LIB = ckernel.compile("void f(float* x) { x[0] = ; }",'
        ' {"f": "void(float*)"})\n', 1)
    result = run(softmax, broken, tmp_path)
    assert not result.ok
    assert "gcc failed" in result.reason and "expected expression" in result.reason


def test_static_review_names_the_python_cheats(softmax):
    baseline = (softmax.root / "solution.py").read_text()
    slow = (Path(__file__).with_name("cheats") / "slow_reference.py").read_text()
    checks = {f.check for f in review_patch({"solution.py": baseline}, {"solution.py": slow},
                                            ["solution.py"])}
    assert "static.monkeypatch" in checks
