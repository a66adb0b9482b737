"""The harness kit's own parts, as a harness uses them: command templates, the curve (from a
pipe and from output lines), reading a score step's result, running a command in a writable
copy of the program's folder, and putting the program back after a run that tampered with it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from recursor.errors import SandboxError
from recursor.executor.sandbox import detect
from recursor.harness import (
    MAX_POINTS,
    Curve,
    HarnessError,
    LastMatch,
    Metrics,
    NoSandbox,
    Program,
    RegexCurve,
    command,
    curve_pattern,
    placeholders,
    read_score,
    read_scores,
    restore_program,
    run_program,
)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_command_template_becomes_an_argv_with_recursors_python():
    argv = command("python train.py --seed={seed} --name 'a b' {{x}}", {"seed": 7})
    assert argv == [sys.executable, "train.py", "--seed=7", "--name", "a b", "{x}"]
    assert command("python3 -m pkg", {})[0] == sys.executable
    assert command("{python} x.py", {"python": "/ignored"})[0] == sys.executable
    assert command("./run.sh {seed}", {"seed": 1}) == ["./run.sh", "1"]
    assert placeholders("a {seed} {{literal}} {output}") == {"seed", "output"}
    with pytest.raises(ValueError, match=r"names \{sed\}"):
        command("python train.py --seed {sed}", {"seed": 1})


def test_the_curve_keeps_finite_numbers_with_names_and_clamps_progress(tmp_path):
    metrics = Metrics(str(tmp_path / "m.jsonl"), token="t0k")
    curve = Curve(metrics, progress_of=("step", 100))
    assert curve.add({"step": 50, "loss": "2.5", "note": "text", "bad key": 1.0,
                      "type": 3, "token": 4, "nan": float("nan"), "progress": 0.99})
    assert curve.add({"step": 250, "loss": 1.0})
    assert not curve.add({"loss": float("inf")})
    first, second = records(tmp_path / "m.jsonl")
    assert first == {"type": "curve", "step": 50.0, "loss": 2.5, "progress": 0.5, "token": "t0k"}
    assert second["progress"] == 1.0  # a step past the end is not progress past 1
    own = Curve(Metrics(str(tmp_path / "n.jsonl")))
    own.add({"progress": -3, "loss": 1})
    assert records(tmp_path / "n.jsonl")[0]["progress"] == 0.0


def test_a_flood_of_curve_points_is_capped(tmp_path):
    curve = Curve(Metrics(str(tmp_path / "m.jsonl")), limit=5)
    added = [curve.add({"loss": i}) for i in range(20)]
    assert sum(added) == 5 and len(records(tmp_path / "m.jsonl")) == 5
    assert MAX_POINTS >= 1000  # room for a real curve


def test_a_curve_from_a_pipe_skips_what_is_not_a_json_object(tmp_path):
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b'{"step": 1, "loss": 3.0}\nnot json\n[1, 2]\n{"step": 2, "loss": 2.0}\n')
    os.close(write_fd)
    curve = Curve(Metrics(str(tmp_path / "m.jsonl")), progress_of=("step", 2))
    curve.follow_pipe(read_fd)
    assert [r["progress"] for r in records(tmp_path / "m.jsonl")] == [0.5, 1.0]


def test_a_curve_regex_reads_points_from_output_lines(tmp_path):
    curve = Curve(Metrics(str(tmp_path / "m.jsonl")), progress_of=("step", 10))
    reader = RegexCurve(curve, r"iter (?P<step>\d+): loss (?P<loss>[0-9.]+)")
    for line in ("iter 5: loss 2.25, time 3.1ms", "step 5: train loss 2.1, val loss 2.2",
                 "iter 10: loss 1.5"):
        reader(line)
    assert [(r["step"], r["loss"], r["progress"]) for r in records(tmp_path / "m.jsonl")] == [
        (5.0, 2.25, 0.5), (10.0, 1.5, 1.0)]
    one = RegexCurve(Curve(Metrics(str(tmp_path / "n.jsonl"))), r"loss ([0-9.]+)")
    one("loss 0.5")
    assert records(tmp_path / "n.jsonl")[0]["loss"] == 0.5  # one unnamed group: the loss


@pytest.mark.parametrize("regex, says", [
    ("loss [0-9.]+", "captures nothing"),
    (r"iter (\d+): loss ([0-9.]+)", "2 unnamed groups"),
    ("loss ([0-9.]+", "does not compile"),
])
def test_a_curve_regex_that_cannot_give_points_is_refused_with_the_reason(regex, says):
    with pytest.raises(ValueError, match=says):
        curve_pattern(regex)


def test_a_score_steps_result_is_read_as_json_only(tmp_path):
    out = tmp_path / "score.json"
    out.write_text("2.5")
    assert read_score(str(out), "loss") == {"loss": 2.5}
    out.write_text(json.dumps({"loss": 1.25, "acc": 0.5, "note": "x", "bad": float("nan")}))
    assert read_score(str(out), "loss") == {"loss": 1.25, "acc": 0.5}
    for text, says in (('{"acc": 0.5}', "no finite number 'loss'"), ("NaN", "neither"),
                       ("secret held-out text", "not JSON"), ("", "not JSON")):
        out.write_text(text)
        with pytest.raises(HarnessError, match=says) as err:
            read_score(str(out), "loss")
        assert "secret" not in str(err.value)  # what the step read is never quoted
    with pytest.raises(HarnessError, match="wrote no result"):
        read_score(str(tmp_path / "missing.json"), "loss")


def test_one_score_per_input_is_a_list_of_that_many_finite_numbers(tmp_path):
    out = tmp_path / "scores.json"
    out.write_text("[0.5, 1, -2.25]")
    assert read_scores(str(out), 3) == [0.5, 1.0, -2.25]
    for text, says in (("[0.5, 1]", "2 scores for 3 inputs"), ('[0.5, NaN, 1]', "score 1 is not"),
                       ('[0.5, true, 1]', "score 1 is not"), ('{"a": 1}', "not a JSON list"),
                       ("secret prompt", "not JSON")):
        out.write_text(text)
        with pytest.raises(HarnessError, match=says) as err:
            read_scores(str(out), 3)
        assert "secret" not in str(err.value)
    out.write_text("[" + ",".join(["0.5"] * 1000) + "]")
    with pytest.raises(HarnessError, match="larger than"):
        read_scores(str(out), 1000, max_bytes=100)


def test_a_score_result_that_is_a_link_is_not_followed(tmp_path):
    # the score step may run the candidate's code: a link would make the harness, outside the
    # sandbox, read any file of yours
    target = tmp_path / "held-out.json"
    target.write_text('{"loss": 0.0}')
    link = tmp_path / "score.json"
    link.symlink_to(target)
    with pytest.raises(HarnessError, match="a link"):
        read_score(str(link), "loss")
    os.mkfifo(tmp_path / "fifo.json")
    with pytest.raises(HarnessError, match="not a regular file"):
        read_score(str(tmp_path / "fifo.json"), "loss")


def test_the_metric_from_output_is_the_last_match():
    metric = LastMatch(r"val loss (?P<val_loss>[0-9.]+)", "val_loss")
    for line in ("step 1: val loss 3.0", "noise", "step 2: val loss 2.5", "val loss nan"):
        metric(line)
    assert metric.value == 2.5
    with pytest.raises(ValueError, match="no group named"):
        LastMatch(r"(?P<loss>[0-9.]+)", "val_loss")


@pytest.fixture
def sandboxed(tmp_path) -> dict:
    """A config as recursor gives it: a workspace inside the scratch folder, a sandbox."""
    try:
        box = detect("auto")
    except SandboxError as err:
        pytest.skip(str(err))
    scratch = tmp_path / "scratch"
    workspace = scratch / "program"
    (workspace / "data").mkdir(parents=True)
    (workspace / "data" / "train.txt").write_text("relative data\n")
    (workspace / "train.py").write_text(
        "import os, sys\n"
        "print('cwd', os.path.basename(os.getcwd()), open('data/train.txt').read().strip())\n"
        "print('50%\\r100%', flush=True)\n"
        "os.makedirs('out', exist_ok=True)\n"
        "open('out/ckpt', 'w').write('weights')\n"
        "open('train.py', 'a').write('# rewritten\\n')\n")
    prefix = box.harness_config(writable=[str(scratch)], readonly=[str(workspace)],
                                memory_mb=0, cpu_seconds=60)
    return {"scratch": str(scratch), "workspace": str(workspace), "sandbox": prefix,
            "limits": {"threads": 1}}


def test_a_program_runs_in_a_writable_copy_of_its_folder(sandboxed, tmp_path):
    lines = []
    with open(tmp_path / "program.log", "wb") as log:
        program = Program(sandboxed, log)
        report = program.run(command("python train.py", {}), seconds=60, what="training",
                             on_line=lines.append)
    assert report["exit"] == 0
    assert "cwd work relative data" in lines and "100%" in lines  # a redrawn line: its last
    assert "relative data" in (tmp_path / "program.log").read_text()
    work = Path(program.folder)
    assert (work / "out" / "ckpt").read_text() == "weights"
    assert (work / "train.py").read_text().endswith("# rewritten\n")
    program.restore()  # the program's files as given; what it wrote stays
    assert (work / "train.py").read_text() == (Path(sandboxed["workspace"]) / "train.py").read_text()
    assert (work / "out" / "ckpt").exists()


def test_putting_the_program_back_never_follows_a_link_it_left(sandboxed, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    work = Path(sandboxed["scratch"]) / "work"
    work.mkdir()
    (work / "data").symlink_to(outside)  # a folder of the program replaced by a link
    restore_program(sandboxed, str(work))
    assert not list(outside.iterdir())  # nothing written through the link
    assert (work / "data" / "train.txt").read_text() == "relative data\n"
    os.rename(work, tmp_path / "moved")
    work.symlink_to(outside)  # the whole folder replaced by a link
    restore_program(sandboxed, str(work))
    assert not work.is_symlink() and not list(outside.iterdir())


def test_putting_the_program_back_removes_the_code_a_run_wrote(sandboxed, tmp_path):
    # code Python would import in place of the program's own, planted for the next command
    work = Path(sandboxed["scratch"]) / "work"
    (work / "out").mkdir(parents=True)
    (work / "out" / "ckpt.json").write_text("{}")
    planted = ["train/__init__.py", "__pycache__/train.cpython-311.pyc",
               "train.cpython-311-x86_64-linux-gnu.so", "data/__pycache__/x.pyc", "helper.py",
               "sitecustomize.py", "out/hook.pth"]
    for rel in planted:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text("planted")
    restore_program(sandboxed, str(work))
    assert [rel for rel in planted if (work / rel).exists()] == []
    assert not (work / "__pycache__").exists()
    assert (work / "out" / "ckpt.json").exists() and (work / "train.py").exists()


def test_a_failing_or_overlong_program_is_the_candidates_failure(sandboxed, tmp_path):
    workspace = Path(sandboxed["workspace"])
    with open(tmp_path / "log", "wb") as log:
        with pytest.raises(HarnessError, match="exit code 3"):
            run_program([sys.executable, "-c", "raise SystemExit(3)"], sandboxed,
                        cwd=str(workspace), seconds=60, what="training", log=log)
        with pytest.raises(HarnessError, match="wall-clock cap of 1 s"):
            run_program([sys.executable, "-c", "import time; time.sleep(30)"], sandboxed,
                        cwd=str(workspace), seconds=1, what="training", log=log)
        with pytest.raises(NoSandbox):
            Program({**sandboxed, "sandbox": None}, log)
