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


def test_run_takes_propose_ahead_into_the_runs_config(tmp_path, monkeypatch):
    import recursor
    from recursor.errors import RecursorError

    result = runner.invoke(app, ["run", "tiny-lm", "--run-dir", str(tmp_path / "bad"),
                                 "--propose-ahead", "-1"])
    assert result.exit_code == 2 and "propose_ahead must be 0 or more (got -1)" in result.output
    assert not (tmp_path / "bad").exists()  # refused before anything is made

    given = {}

    def run(task, **options):
        given.update(options)
        raise RecursorError("stopped here")

    monkeypatch.setattr(recursor, "run", run)
    result = runner.invoke(app, ["run", "tiny-lm", "--propose-ahead", "2"])
    assert result.exit_code == 2 and given["propose_ahead"] == 2
    runner.invoke(app, ["run", "tiny-lm"])
    assert given["propose_ahead"] is None  # the proposer's default


def test_report_on_a_folder_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "not a recursor run folder" in result.output


def git_diff(tmp_path, old: str, new: str) -> str:
    """The diff `git diff` writes for a change of train.py, as a user would hand it over."""
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(old)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    (repo / "train.py").write_text(new)
    return subprocess.run([*git, "diff"], check=True, capture_output=True, text=True).stdout


@pytest.mark.slow
def test_try_judges_a_git_diff_and_says_why(tmp_path):
    from conftest import SMALL

    program = (builtin_tasks()["tiny-lm"] / "train.py").read_text()
    good = tmp_path / "lr.diff"
    good.write_text(git_diff(tmp_path, program, program.replace(
        "learning_rate = 1e-3", "learning_rate = 3e-3")))
    stale = tmp_path / "stale.diff"  # written against another version of the file
    stale.write_text(good.read_text().replace("-learning_rate = 1e-3", "-learning_rate = 2e-3"))
    sets = [f"--set={k}={v}" for k, v in SMALL.items()]
    result = runner.invoke(app, ["try", "tiny-lm", "--patch", str(good), "--patch", str(stale),
                                 "--json", "--no-heldout", "--run-dir", str(tmp_path / "run"),
                                 *sets])
    assert result.exit_code == 0, result.output
    first, second = json.loads(result.output)
    assert {"status", "reasons", "seeds", "mean", "baseline_mean", "improvement_pct",
            "audit"} <= set(first)
    assert first["status"] in ("accepted", "rejected") and first["reasons"]
    assert first["seeds"][0] == 1 and first["mean"] and first["baseline_mean"]
    if first["status"] == "accepted":  # the evidence comes with the verdict
        assert first["ci95"][0] > 0 and first["p_value"] < 0.02 and first["improvement_pct"] > 0
    assert second["status"] == "failed" and "does not apply" in second["reasons"][0]

    result = runner.invoke(app, ["try", "tiny-lm", "--patch", str(tmp_path / "missing.diff")])
    assert result.exit_code == 2 and "no patch file" in result.output
