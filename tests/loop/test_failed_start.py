"""A run that fails before its first experiment leaves nothing behind: the same command can
simply be run again once the cause is fixed. A run that has started keeps everything."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import recursor
from recursor.errors import RecursorError
from recursor.loop.engine import ResearchLoop
from recursor.store import RunStore

TINY_LM = Path(recursor.__file__).parent / "task" / "builtin" / "tiny_lm"


@pytest.fixture
def no_data(tmp_path) -> Path:
    """tiny-lm, with a data file that is nowhere to be found (the tests run offline)."""
    task = tmp_path / "tiny-lm-copy"
    shutil.copytree(TINY_LM, task, ignore=shutil.ignore_patterns("__pycache__"))
    toml = task / "task.toml"
    toml.write_text(toml.read_text().replace('file = "tinyshakespeare.txt"',
                                             'file = "tinyshakespeare-2027.txt"'))
    return task


def test_data_not_found_leaves_no_run_folder_and_the_same_command_runs_again(
        tmp_path, small, no_data):
    run_dir = tmp_path / "runs" / "first"
    for _ in range(2):  # the second attempt fails for the same reason, not "use resume"
        with pytest.raises(RecursorError, match="tinyshakespeare-2027") as err:
            recursor.run(no_data, run_dir=run_dir, experiments=1, workers=1,
                         overrides=small, heldout=False)
        assert "resume" not in str(err.value)
        assert not run_dir.exists()
    assert (tmp_path / "runs").is_dir()  # only the run's own folder goes


def test_a_folder_the_user_made_keeps_the_users_files(tmp_path, small, no_data):
    run_dir = tmp_path / "mine"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("keep me")
    with pytest.raises(RecursorError, match="tinyshakespeare-2027"):
        recursor.run(no_data, run_dir=run_dir, experiments=1, workers=1, overrides=small,
                     heldout=False)
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt"]
    assert (run_dir / "notes.txt").read_text() == "keep me"


def test_a_bad_idea_folder_leaves_no_run_folder(tmp_path, small):
    run_dir = tmp_path / "run"
    empty_ideas = tmp_path / "ideas"
    empty_ideas.mkdir()
    with pytest.raises(RecursorError, match="no idea files"):
        recursor.run("tiny-lm", run_dir=run_dir, experiments=1, workers=1, overrides=small,
                     ideas=[empty_ideas])
    assert not run_dir.exists()


def test_a_run_interrupted_after_its_first_experiment_started_is_kept(
        tmp_path, small, monkeypatch):
    def interrupted(loop: ResearchLoop) -> str:
        base = loop.store.add_node(None, None, loop.task.program_files())
        loop.store.start_evaluation(base.id, 1, "train")
        raise KeyboardInterrupt

    monkeypatch.setattr(ResearchLoop, "run", interrupted)
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        recursor.run("tiny-lm", run_dir=run_dir, experiments=1, workers=1, overrides=small,
                     heldout=False)
    store = RunStore.open(run_dir, readonly=True)
    try:
        assert [len(n.evaluations) for n in store.nodes()] == [1]  # resumable, nothing lost
    finally:
        store.close()
