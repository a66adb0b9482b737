"""The CLI as a user types it, on a real finished run."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from recursor.cli.app import app
from recursor.task import builtin_tasks

runner = CliRunner()


def test_tasks_lists_the_builtin_task():
    result = runner.invoke(app, ["tasks"])
    assert result.exit_code == 0 and "tiny-lm" in result.output and "val_bpb" in result.output


def test_validate_accepts_tiny_lm_and_names_the_problems_of_a_bad_folder(tmp_path):
    result = runner.invoke(app, ["validate", "tiny-lm"])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "ideas that apply" in result.output

    bad = tmp_path / "bad"
    shutil.copytree(builtin_tasks()["tiny-lm"], bad)
    toml = bad / "task.toml"
    toml.write_text(toml.read_text().replace('direction = "minimize"', 'direction = "lower"'))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "metric.direction" in result.output and "'lower'" in result.output

    result = runner.invoke(app, ["run", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no task folder" in result.output


@pytest.mark.slow
def test_report_json_markdown_and_text(small_run, tmp_path):
    result = runner.invoke(app, ["report", str(small_run.run_dir), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["task"] == "tiny-lm" and data["counts"]["experiments"] == 4

    out = tmp_path / "report.md"
    result = runner.invoke(app, ["report", str(small_run.run_dir), "--markdown", "-o", str(out)])
    assert result.exit_code == 0
    text = out.read_text()
    assert text.startswith("# recursor run: tiny-lm") and "| node | parent | idea |" in text

    result = runner.invoke(app, ["report", str(small_run.run_dir)])
    assert result.exit_code == 0 and "baseline (node 1)" in result.output


@pytest.mark.slow
def test_show_and_status(small_run):
    node = small_run.nodes()[1]
    result = runner.invoke(app, ["show", str(small_run.run_dir), str(node.id)])
    assert result.exit_code == 0, result.output
    assert node.title[:20] in result.output and "hypothesis" in result.output
    assert "per-seed val_bpb" in result.output and "diff --git a/train.py" in result.output

    result = runner.invoke(app, ["status", str(small_run.run_dir)])
    assert result.exit_code == 0 and "finished" in result.output and "4/4 experiments" in result.output

    result = runner.invoke(app, ["show", str(small_run.run_dir), "999"])
    assert result.exit_code == 2 and "no node 999" in result.output


def test_report_on_a_folder_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "not a recursor run folder" in result.output
