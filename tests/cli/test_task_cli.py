"""`recursor task init` and `recursor validate --run` as a user types them: a task made around a
program of one's own, run once, with what went wrong said plainly when it does."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recursor.cli.app import app

runner = CliRunner()
TOY = Path(__file__).resolve().parents[1] / "audit" / "scaffold"
CURVE = r"step (?P<step>\d+): loss (?P<loss>[0-9.]+)"


@pytest.fixture
def program(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "prog"
    shutil.copytree(TOY / "program", folder)
    monkeypatch.chdir(folder)
    return folder


def init(dest: Path, *extra: str):
    return runner.invoke(app, ["task", "init", str(dest), "--train",
                               "python train.py --seed {seed}", "--metric", "err",
                               "--program", "train.py", "--program", "model.py", "--program",
                               "data", *extra])


def scored(dest: Path):
    return init(dest, "--score", "python {scoring}/score.py --target {scoring}/target.txt "
                                 "--output {output}",
                "--scoring", str(TOY / "scoring" / "score.py"),
                "--scoring", str(TOY / "scoring" / "target.txt"),
                "--curve-regex", CURVE, "--total-steps", "20")


def test_init_then_validate_run_shows_the_metric_the_curve_and_the_logs(program, tmp_path):
    made = scored(tmp_path / "task")
    assert made.exit_code == 0, made.output
    assert "3 program file(s)" in made.output and "next: recursor validate" in made.output
    result = runner.invoke(app, ["validate", str(tmp_path / "task"), "--run"])
    assert result.exit_code == 0, result.output
    value = float(re.search(r"ok err = ([0-9.e-]+) \(seed 1\)", result.output).group(1))
    assert 0.01 < value < 0.2  # the toy's estimate, scored against the held-out target
    assert "curve: 20 point(s), 20 with progress, 20 with loss" in result.output
    assert "-- program.log" in result.output and "step 20: loss" in result.output
    assert "-- harness.log" in result.output


def test_validate_run_fails_with_the_reason_when_there_is_no_metric(program, tmp_path):
    assert init(tmp_path / "task").exit_code == 0  # no score step yet
    result = runner.invoke(app, ["validate", str(tmp_path / "task"), "--run"])
    assert result.exit_code == 1
    assert "the baseline failed" in result.output and "names no 'score'" in result.output
    assert "step 20: loss" in result.output  # training ran, and its log is there to read


def test_validate_run_names_a_settings_key_the_harness_reads_but_the_task_lacks(program,
                                                                                  tmp_path):
    assert scored(tmp_path / "task").exit_code == 0
    harness = tmp_path / "task" / "harness.py"
    harness.write_text(harness.read_text().replace(
        'total = settings.get("total_steps")', 'total = settings["total_step"]'))
    assert runner.invoke(app, ["validate", str(tmp_path / "task")]).exit_code == 0  # static: fine
    result = runner.invoke(app, ["validate", str(tmp_path / "task"), "--run"])
    assert result.exit_code == 1 and "KeyError: 'total_step'" in result.output


def test_a_metric_taken_from_the_output_is_what_the_program_printed(program, tmp_path):
    made = init(tmp_path / "task", "--metric-regex", r"step 20: loss (?P<err>[0-9.]+)")
    assert made.exit_code == 0, made.output
    assert "a candidate that prints a better number gets it" in made.output
    result = runner.invoke(app, ["validate", str(tmp_path / "task"), "--run"])
    assert result.exit_code == 0, result.output
    printed = re.search(r"step 20: loss ([0-9.]+)", result.output).group(1)
    assert f"ok err = {float(printed):.6g}" in result.output


def test_init_refuses_a_bad_request_with_exit_2(program, tmp_path):
    result = init(tmp_path / "task", "--curve-regex", "loss [0-9.]+")
    assert result.exit_code == 2 and "captures nothing" in result.output
    assert not (tmp_path / "task").exists()
