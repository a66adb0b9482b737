"""Secondary metrics and constraints in task.toml, and a task as a run with another objective
sees it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recursor.errors import TaskError
from recursor.task import builtin_tasks, load_task
from recursor.task.objectives import for_objective, harness_evaluation, objective_names

SECONDARY = '''
[[secondary]]
name = "train_seconds"
direction = "minimize"
unit = "seconds"

[[secondary]]
name = "tokens_per_joule"
direction = "maximize"
'''


@pytest.fixture
def task_copy(tmp_path) -> Path:
    dst = tmp_path / "my-task"
    shutil.copytree(builtin_tasks()["tiny-lm"], dst)
    text = (dst / "task.toml").read_text()
    # tiny-lm's own secondary metrics out, ours in, before [budget]
    head, _, rest = text.partition("[[secondary]]")
    rest = rest[rest.index("[budget]"):]
    (dst / "task.toml").write_text(head + SECONDARY + "\n" + rest)
    return dst


def _with(folder: Path, extra: str) -> Path:
    toml = folder / "task.toml"
    toml.write_text(toml.read_text().replace("[budget]", extra + "\n[budget]", 1))
    return folder


def _problems(folder: Path) -> str:
    with pytest.raises(TaskError) as err:
        load_task(folder)
    return str(err.value)


def test_tiny_lm_declares_training_time_and_peak_memory():
    spec = load_task("tiny-lm").spec
    assert [(m.name, m.direction) for m in spec.secondary] == [
        ("train_seconds", "minimize"), ("peak_memory_mb", "minimize")]
    assert [m.name for m in spec.metrics] == ["val_bpb", "train_seconds", "peak_memory_mb"]


def test_secondary_metrics_and_constraints_load(task_copy):
    _with(task_copy, '[[constraints]]\nmetric = "train_seconds"\nrelative = 0.1\n\n'
                     '[[constraints]]\nmetric = "tokens_per_joule"\nlimit = 5\n')
    spec = load_task(task_copy).spec
    assert spec.metric_spec("tokens_per_joule").direction == "maximize"
    assert [(c.metric, c.relative, c.limit) for c in spec.constraints] == [
        ("train_seconds", 0.1, None), ("tokens_per_joule", None, 5)]


def test_a_constraint_on_an_undeclared_metric_is_an_error(task_copy):
    _with(task_copy, '[[constraints]]\nmetric = "peak_rss"\nrelative = 0.1\n')
    message = _problems(task_copy)
    assert "field 'constraints': constraints on undeclared metrics ['peak_rss']" in message
    assert "val_bpb, train_seconds, tokens_per_joule" in message  # what it may name


def test_a_constraint_needs_exactly_one_bound(task_copy):
    _with(task_copy, '[[constraints]]\nmetric = "train_seconds"\nrelative = 0.1\nlimit = 60\n\n'
                     '[[constraints]]\nmetric = "train_seconds"\n')
    message = _problems(task_copy)
    assert "field 'constraints.0'" in message and "field 'constraints.1'" in message
    assert "give exactly one of relative" in message
    assert "2 problem(s)" in message


def test_unknown_keys_and_bad_values_are_named(task_copy):
    _with(task_copy, '[[constraints]]\nmetric = "train_seconds"\nrelative = -0.1\nmax = 3\n')
    text = (task_copy / "task.toml").read_text()
    text = text.replace('name = "tokens_per_joule"\ndirection = "maximize"',
                        'name = "tokens_per_joule"\ndirection = "up"\nscale = 2')
    (task_copy / "task.toml").write_text(text)
    message = _problems(task_copy)
    assert "field 'secondary.1.direction'" in message and "'up'" in message
    assert "field 'secondary.1.scale': unknown key" in message
    assert "field 'constraints.0.relative'" in message
    assert "field 'constraints.0.max': unknown key" in message


def test_metric_names_must_be_distinct_and_apart_from_evaluations(task_copy):
    text = (task_copy / "task.toml").read_text()
    (task_copy / "task.toml").write_text(
        text.replace('name = "tokens_per_joule"', 'name = "val_bpb"'))
    assert "field 'secondary': metric names must be distinct: ['val_bpb'] declared more than " \
        "once" in _problems(task_copy)
    (task_copy / "task.toml").write_text(
        text.replace('name = "tokens_per_joule"', 'name = "wikitext2_bpb"'))
    assert "share a name with an evaluation" in _problems(task_copy)


def test_the_task_as_a_run_with_another_objective_sees_it():
    task = load_task("tiny-lm")
    assert for_objective(task, None) is task and for_objective(task, "val_bpb") is task
    timed = for_objective(task, "train_seconds")
    spec = timed.spec
    assert spec.metric.name == "train_seconds" and spec.minimize and spec.metric.curve is None
    assert [m.name for m in spec.secondary] == ["val_bpb", "peak_memory_mb"]
    # the public evaluation is recorded under the objective; the harness still gets its own
    assert [e.name for e in spec.evaluations] == ["train_seconds"]
    assert timed.task_metric == "val_bpb"
    given = harness_evaluation(timed, "train_seconds")
    assert given["name"] == "val_bpb" and given["train_data"] == "tinyshakespeare"
    assert harness_evaluation(task, "val_bpb")["name"] == "val_bpb"
    assert objective_names(task) == ("val_bpb", "train_seconds", "peak_memory_mb")


def test_an_objective_the_task_does_not_have_is_refused_with_the_choices():
    with pytest.raises(TaskError, match=r"objective 'latency' is not one of the task's metrics: "
                                        r"choose its metric val_bpb or a secondary metric "
                                        r"\(train_seconds, peak_memory_mb\)"):
        for_objective(load_task("tiny-lm"), "latency")
