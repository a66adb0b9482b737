"""`recursor task init` as a function: what it refuses (every problem named at once), what it
writes, and the rule of what goes where (program files, assets, scoring files)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from recursor.errors import TaskError
from recursor.task import idea_problems, load_task
from recursor.task.scaffold import init_task

TOY = Path(__file__).resolve().parents[1] / "audit" / "scaffold"
TRAIN = "python train.py --seed {seed}"
SCORE = "python {scoring}/score.py --target {scoring}/target.txt --output {output}"


@pytest.fixture
def program(tmp_path, monkeypatch) -> Path:
    """The toy program in a folder of its own, which is the current folder (as a user runs it)."""
    folder = tmp_path / "prog"
    folder.mkdir()
    (folder / "train.py").write_text((TOY / "program" / "train.py").read_text())
    (folder / "data").mkdir()
    (folder / "data" / "train.txt").write_text((TOY / "program" / "data" / "train.txt").read_text())
    (folder / "data" / "tokens.bin").write_bytes(bytes([3, 0, 7, 0]))  # token ids: not text
    (folder / "held-out.txt").write_text("1.3\n")
    monkeypatch.chdir(folder)
    return folder


def make(dest, **given):
    kwargs = {"train": TRAIN, "metric": "err", "score": SCORE, "program": ["train.py", "data"],
              "scoring": [TOY / "scoring" / "score.py", TOY / "scoring" / "target.txt"]}
    return init_task(dest, **{**kwargs, **given})


def test_the_folder_holds_what_an_experiment_needs_and_loads(program, tmp_path):
    made = make(tmp_path / "task", curve_regex=r"step (?P<step>\d+): loss (?P<loss>[0-9.]+)",
                total_steps=20)
    root = made.root
    assert made.program == ("data/train.txt", "train.py") and made.editable == ("train.py",)
    assert made.assets == ("data/tokens.bin",)  # kept apart: recursor keeps program files as text
    assert (root / "assets" / "data" / "tokens.bin").read_bytes() == bytes([3, 0, 7, 0])
    assert sorted(p.name for p in (root / "scoring").iterdir()) == ["score.py", "target.txt"]
    raw = tomllib.loads((root / "task.toml").read_text())
    assert raw["settings"]["train"] == "{python} train.py --seed {seed}"
    assert raw["settings"]["curve_regex"] == r"step (?P<step>\d+): loss (?P<loss>[0-9.]+)"
    assert raw["metric"] == {"name": "err", "direction": "minimize", "curve": "loss"}
    assert "scoring/target.txt" in raw["harness"]["files"]  # hashed before every experiment
    assert "assets/data/tokens.bin" in raw["harness"]["files"]
    task = load_task(root)
    assert [i.key for i in task.ideas] == ["example"] and not idea_problems(task)
    assert "rate = 0.6" in task.ideas[0].patch_text  # a setting found in the editable file
    # a user's training run is noisy: more fresh pairs while a candidate is promising
    seeds = task.spec.seeds
    assert (seeds.confirm, seeds.confirm_max, seeds.confirm_spending) == (2, 6, "pocock")
    readme = (root / "README.md").read_text()
    assert "What the harness trusts" in readme and "never comes from the program's output" in readme
    assert "from recursor.harness import" in (root / "harness.py").read_text()


def test_without_a_score_step_the_folder_says_there_is_no_metric_yet(program, tmp_path):
    made = make(tmp_path / "task", score=None, scoring=[])
    assert any("no score step yet" in n for n in made.notes)
    assert "Still to do" in (made.root / "README.md").read_text()


def test_a_metric_read_from_the_output_is_said_to_trust_the_program(program, tmp_path):
    made = make(tmp_path / "task", score=None, scoring=[],
                metric_regex=r"step 20: loss (?P<err>[0-9.]+)")
    assert any("a candidate that prints a better number gets it" in n for n in made.notes)
    assert "TRUSTS THE PROGRAM" in (made.root / "task.toml").read_text()


@pytest.mark.parametrize("given, says", [
    ({"train": "python train.py"}, "--train has no {seed}"),
    ({"train": "python train.py --seed {sede}"}, "--train names {sede}"),
    ({"train": "python train.py --seed '{seed}"}, "cannot be split"),
    ({"score": "python {scoring}/score.py"}, "--score has no {output}"),
    ({"curve_regex": "loss [0-9.]+"}, "captures nothing"),
    ({"curve_regex": r"iter (\d+): loss ([0-9.]+)"}, "2 unnamed groups"),
    ({"curve_regex": "loss (?P<loss>[0-9.]+)", "total_steps": 20}, "no group named step"),
    ({"total_steps": 20}, "--total-steps needs a curve"),
    ({"metric_regex": "err ([0-9.]+)"}, "both say where the metric comes from"),
    ({"editable": ["elsewhere.py"]}, "outside the program's folder"),
    ({"editable": ["data/train.txt", "nope.py"]}, "nope.py is not among the program's files"),
    ({"editable": ["data/tokens.bin"]}, "no idea can edit it"),
    ({"program": ["data"]}, "--train runs train.py, which is not among the program's files"),
    ({"scoring": ["held-out.txt"], "program": ["train.py", "held-out.txt"]},
     "also a program file, so the program would see the scoring data"),
    ({"metric": "val loss"}, "a metric's name is one word"),
    ({"seeds": 1}, "--seeds 1: at least 2"),
])
def test_a_bad_request_is_refused_with_what_is_wrong(program, tmp_path, given, says):
    if given.get("editable") == ["elsewhere.py"]:
        (tmp_path / "elsewhere.py").write_text("x = 1\n")
        given = {"editable": [tmp_path / "elsewhere.py"]}
    with pytest.raises(TaskError) as err:
        make(tmp_path / "task", **given)
    assert says in str(err.value)
    assert not (tmp_path / "task").exists()  # nothing half-written is left


def test_every_problem_is_named_at_once_and_nothing_is_overwritten(program, tmp_path):
    dest = tmp_path / "task"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(TaskError) as err:
        make(dest, train="python train.py", curve_regex="loss")
    text = str(err.value)
    assert "exists and is not an empty folder" in text and "no {seed}" in text
    assert "captures nothing" in text and "3 problem(s)" in text
    assert (dest / "mine.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert make(empty).root == empty.resolve()  # an empty folder is fine
