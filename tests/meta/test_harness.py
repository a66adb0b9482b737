"""The meta-research harness: which inner run a seed stands for, and what it refuses."""

from __future__ import annotations

import pytest

from recursor.harness import HarnessError
from recursor.meta.harness import cache_folder, pair, run
from recursor.task import load_task

TASK = load_task("meta-research")


def config(tmp_path, process: str, evaluation: str = "yield") -> dict:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "meta.toml").write_text(process)
    job = tmp_path / "job"
    job.mkdir()
    return {"seed": 0, "workspace": str(workspace), "metrics_file": str(job / "metrics.jsonl"),
            "evaluation": TASK.spec.evaluation(evaluation).model_dump(),
            "budget": TASK.spec.budget, "settings": {}, "data": [],
            "sandbox": {"kind": "none"}}


def test_a_seed_is_a_task_and_a_run_seed():
    tasks = [{"task": "a"}, {"task": "b"}, {"task": "c"}]
    assert [(pair(tasks, s)[0]["task"], pair(tasks, s)[1]) for s in (0, 1, 2, 3, 1000201)] == [
        ("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 333400)]
    with pytest.raises(HarnessError, match="lists no tasks"):
        pair([], 0)


def test_the_held_out_tasks_are_not_the_training_tasks():
    train = {t["task"] + repr(sorted(t.get("set", {}).items()))
             for t in TASK.spec.evaluation("yield").model_dump()["tasks"]}
    held = {t["task"] + repr(sorted(t.get("set", {}).items()))
            for t in TASK.spec.evaluation("yield_heldout").model_dump()["tasks"]}
    assert train and held and not train & held
    held_out = TASK.spec.evaluation("yield_heldout")
    assert held_out.held_out and held_out.final  # read once, at the end


@pytest.mark.parametrize("process, says", [
    # a process that lowers the share of the value function's stops that are audited, so that
    # its wrong stops go unseen
    ("[stopping]\nrisk = 0.3\naudit = 0.0\n", "stopping.audit: frozen"),
    # one that names a task's ideas: the answers of the runs that judge it
    ("[ideas]\nrule = 'prior'\nweights = { muon = 50.0, context-32 = 50.0 }\n",
     "unknown idea category(s) muon, context-32"),
    # one that picks its own judge
    ("alpha = 0.5\n", "alpha: frozen"),
    ("[search]\npolicy = 'greedy'\nheldout = false\n", "search.heldout: frozen"),
])
def test_a_process_that_would_game_its_evaluation_is_refused_before_any_run(
        tmp_path, process, says):
    with pytest.raises(HarnessError, match="the process file is refused") as err:
        run(config(tmp_path, process), metrics=None)
    assert says in str(err.value)
    assert not (tmp_path / "job" / "inner-run").exists()  # nothing ran


def test_the_cache_lives_in_the_run_folder_of_the_job(tmp_path):
    run_dir = tmp_path / "runs" / "meta"
    job = run_dir / "nodes" / "0002" / "evals" / "7-seed0-yield"
    job.mkdir(parents=True)
    assert cache_folder(job) is None
    (run_dir / "run.db").write_text("")
    assert cache_folder(job) == run_dir / "cache"


def test_every_point_of_the_declared_space_is_a_process_the_file_schema_takes():
    import random
    import tomllib

    from recursor.settings.process import process_of
    from recursor.task.space import write_values

    base = TASK.program_files()["meta.toml"]
    rng = random.Random(0)
    keys = set()
    for _ in range(50):
        point = {}
        for spec in TASK.spec.space:
            if spec.choices is not None:
                point[spec.key] = rng.choice(spec.choices)
            else:
                point[spec.key] = rng.uniform(spec.low, spec.high)
        process = process_of(tomllib.loads(write_values(base, point)))
        keys |= {k for k, v in process.keywords().items() if v != process_of({}).keywords()[k]}
    # and the space reaches the library's rule, the parent choice and the stop levels
    assert {"idea_rule", "policy", "exploration", "descendant_credit", "stop_risk"} <= keys
