"""The built-in kernel suite: every problem is well formed, its baseline is its reference, and
every idea that runs on a CPU applies and computes the reference's result at every CPU shape."""

from __future__ import annotations

import pytest
from suite import candidate_files, candidate_source, check, kernel_tasks

TASKS = kernel_tasks()
CPU_IDEAS = [(t, i) for t in TASKS for i in t.ideas if i.device != "cuda"]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_problem_is_well_formed(task, tmp_path):
    settings = task.spec.settings
    assert task.spec.metric.name == "speedup" and not task.spec.minimize
    for device in ("cpu", "gpu"):
        assert len(settings["shapes"][device]) >= 2, "a timed shape and a second shape"
    for k in range(len(settings["shapes"]["cpu"])):
        # baseline = reference, within the task's tolerance (check asserts it): not always to
        # the bit, as kernel-gelu's identical expression evaluated twice in one process once
        # differed by 1.7e-4 on a clean-clone CI run here (2026-12-02; cause not found yet)
        check(task, candidate_source(task), tmp_path, k)
    kinds = {i.category for i in task.ideas}
    assert {"cpu-kernel", "rewrite"} <= kinds, f"{task.name}: ideas of kinds {kinds}"


@pytest.mark.parametrize(
    ("task", "idea"), CPU_IDEAS, ids=lambda x: getattr(x, "key", None) or getattr(x, "name", "")
)
def test_cpu_idea_matches_the_reference(task, idea, tmp_path):
    source = candidate_source(task, idea)
    for k in range(len(task.spec.settings["shapes"]["cpu"])):
        check(task, source, tmp_path, k, seed=k)


@pytest.mark.slow
def test_every_c_kernel_idea_passes_every_defence_in_the_real_harness(tmp_path):
    """Honest kernels are not mistaken for cheats: each C kernel idea, through the sandbox and
    the harness with 12 trials (two at a time), gives a speedup and no blocking finding. Native
    code with its own OpenMP threads is what the defences could mistake for a cheat (the
    hidden-work check did, 7-13 of 30 calls, before the fix of 2026-12-02; its cause has a test
    of its own in test_kernel_harness.py). The PyTorch rewrites run the same paths as the
    baseline, which test_kernel_cheats.py takes through every defence."""
    from concurrent.futures import ThreadPoolExecutor

    from recursor.executor.local import run_job
    from recursor.executor.sandbox import detect
    from recursor.loop.jobs import make_job
    from recursor.task import load_task

    sandbox = detect()

    def run(pair):
        task, idea = pair
        task = load_task(task.root, {"budget.trials": 12, "budget.warmup": 1})
        program = tmp_path / task.name / idea.key
        program.mkdir(parents=True)
        for name, text in candidate_files(task, idea).items():
            (program / name).write_text(text)
        result = run_job(make_job(task, program, program.parent / f"{idea.key}-job", 1,
                                  "speedup", {}, sandbox=sandbox))
        if not result.ok:
            return f"failed: {result.reason}"
        blocking = [f for f in result.metrics["findings"] if f["blocking"]]
        return f"findings: {blocking}" if blocking else None

    ideas = [(t, i) for t, i in CPU_IDEAS if i.category == "cpu-kernel"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = dict(zip([f"{t.name}/{i.key}" for t, i in ideas],
                            pool.map(run, ideas), strict=True))
    failures = {k: why for k, why in outcomes.items() if why}
    assert not failures, "\n".join(f"{k}: {why}" for k, why in failures.items())
