"""RECURSOR_CONFIG as documented: the config the loop builds for each kind of task conforms to
the kit's JSON Schema, docs/harness.md shows that same schema, and the check names what a
config gets wrong."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from recursor.executor.sandbox import Sandbox
from recursor.harness import CONFIG_SCHEMA, config_problems
from recursor.loop.jobs import make_job, resolve_data
from recursor.task import builtin_tasks, load_task
from recursor.task.scaffold import init_task

DOCS = Path(__file__).resolve().parents[2] / "docs" / "harness.md"
TOY = Path(__file__).resolve().parents[1] / "audit" / "scaffold"


def built_config(task, tmp_path: Path, evaluation: str | None = None) -> dict:
    """The config file exactly as the loop writes it for one experiment of `task`."""
    job = make_job(task, task.root, tmp_path / "job", task.spec.seeds.values[0],
                   evaluation or task.spec.metric.name, resolve_data(task),
                   sandbox=Sandbox("none"), parent_usage=[{"train": {"cpu": 1.0}}])
    return json.loads(job.prepare().read_text())


def scaffolded(tmp_path: Path):
    made = init_task(tmp_path / "toy", train="python train.py --seed {seed}", metric="err",
                     score="python {scoring}/score.py --target {scoring}/target.txt "
                           "--output {output}",
                     program=[TOY / "program" / "train.py", TOY / "program" / "model.py",
                              TOY / "program" / "data"],
                     source=TOY / "program", scoring=[TOY / "scoring" / "target.txt"])
    return load_task(made.root)


def test_the_config_the_loop_builds_conforms_for_every_kind_of_task(tmp_path):
    kernel = next(name for name in builtin_tasks() if name != "tiny-lm")
    tiny = load_task("tiny-lm")
    held_out = next(e.name for e in tiny.spec.evaluations if e.held_out)
    for i, (task, evaluation) in enumerate([(tiny, None), (tiny, held_out),
                                            (load_task(kernel), None),
                                            (scaffolded(tmp_path), None)]):
        config = built_config(task, tmp_path / str(i), evaluation)
        assert config_problems(config) == [], (task.name, config_problems(config))


def test_the_docs_show_the_schema_the_kit_checks():
    block = re.search(r"```json\n(\{\n  \"\$schema\".*?)\n```", DOCS.read_text(), re.S)
    assert block, "docs/harness.md has no JSON Schema block"
    assert json.loads(block.group(1)) == CONFIG_SCHEMA


def test_the_check_names_what_a_config_gets_wrong(tmp_path):
    good = built_config(load_task("tiny-lm"), tmp_path)
    bad = copy.deepcopy(good)
    del bad["seed"]
    bad["surprise"] = 1
    bad["limits"]["threads"] = 0
    bad["sandbox"]["kind"] = "docker"
    bad["data"][0]["sha256"] = "not-a-digest"
    bad["evaluation"]["held_out"] = "no"
    problems = config_problems(bad)
    for expected in ("config: 'seed' is missing", "'surprise' is not a documented key",
                     "config.limits.threads: 0 is below 1", "config.sandbox.kind: 'docker'",
                     "config.data[0].sha256", "config.evaluation.held_out: expected boolean"):
        assert any(expected in p for p in problems), (expected, problems)
    assert config_problems({**good, "seed": True}) == [
        "config.seed: expected integer, got bool"]

