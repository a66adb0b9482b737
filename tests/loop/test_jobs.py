"""From (task, program, seed) to the executor's job: never without a sandbox, and under a weaker
sandbox nothing of the run within reach of the program's folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SMALL

from recursor.executor.local import run_job
from recursor.executor.sandbox import Sandbox, detect
from recursor.loop.jobs import make_job, resolve_data
from recursor.task import load_task

TASK = load_task("tiny-lm", SMALL)


def program(tmp_path: Path, source: str | None = None) -> Path:
    folder = tmp_path / "node" / "workspace"
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(source or TASK.program_files()["train.py"])
    return folder


def test_a_job_is_never_made_without_a_sandbox(tmp_path):
    with pytest.raises(TypeError, match="never runs a candidate bare"):
        make_job(TASK, program(tmp_path), tmp_path / "job", 1, "val_bpb", {}, sandbox=None)


def test_under_a_weaker_sandbox_the_scratch_folder_is_outside_the_run(tmp_path):
    job = make_job(TASK, program(tmp_path), tmp_path / "run" / "job", 1, "val_bpb",
                   resolve_data(TASK), sandbox=Sandbox("none"))
    config_path = job.prepare()
    try:
        assert not job.scratch.is_relative_to(tmp_path)
        workspace = Path(job.config["workspace"])
        assert (workspace / "train.py").is_file() and workspace.parent == job.scratch
        # no folder above the program's holds the job's config, and the data is not inside
        assert all(not (folder / "config.json").exists() for folder in workspace.parents)
        assert config_path.parent == job.job_dir
    finally:
        job.cleanup()


def test_under_bwrap_the_program_cannot_change_its_own_files(tmp_path):
    box = detect()
    if box.kind != "bwrap":
        pytest.skip("bwrap does not run here")
    job = make_job(TASK, program(tmp_path), tmp_path / "job", 1, "val_bpb", resolve_data(TASK),
                   sandbox=box)
    prefix = job.config["sandbox"]["prefix"]
    assert ["--ro-bind", job.config["workspace"], job.config["workspace"]] == [
        prefix[i] for i in range(prefix.index(job.config["workspace"]) - 1,
                                 prefix.index(job.config["workspace"]) + 2)]


CLIMBER = """
import os, sys
def look(start):
    folder = os.path.abspath(start)
    while True:
        for name in ("config.json", "metrics.jsonl", "run.db"):
            if os.path.exists(os.path.join(folder, name)):
                print("FOUND", os.path.join(folder, name), flush=True)
        if folder == os.path.dirname(folder):
            return
        folder = os.path.dirname(folder)
look(os.getcwd())
look(os.path.dirname(__file__))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["unshare", "none"])
def test_a_program_under_a_weaker_sandbox_finds_nothing_of_the_run_above_it(tmp_path, kind):
    try:
        box = detect(kind)
    except Exception as err:  # noqa: BLE001 - not on this machine
        pytest.skip(str(err))
    source = TASK.program_files()["train.py"].replace("def main():", CLIMBER + "\n\ndef main():")
    job = make_job(TASK, program(tmp_path, source), tmp_path / "run" / "job", 1, "val_bpb",
                   resolve_data(TASK), sandbox=box)
    result = run_job(job)
    assert result.ok, result.reason
    log = job.program_log.read_text()
    assert "FOUND" not in log, log
    assert not job.scratch.exists()  # removed with the experiment


@pytest.mark.slow
def test_a_program_rewritten_between_its_experiments_stops_the_run(tmp_path):
    """Under a weaker sandbox a candidate could rewrite its parent's program, so that the
    parent's runs on its confirmation seeds lose: the run stops at the parent's next run."""
    import recursor
    from recursor.audit import admission
    from recursor.errors import IntegrityError

    run_dir = tmp_path / "run"
    parent = run_dir / "nodes" / "1" / "workspace" / "train.py"
    cripples = f"""train.py
<<<<<<< SEARCH
learning_rate = 1e-3
=======
learning_rate = 3e-3
>>>>>>> REPLACE
train.py
<<<<<<< SEARCH
def train(args):
=======
def train(args):
    with open({str(parent)!r}) as f:
        source = f.read()
    with open({str(parent)!r}, "w") as f:
        f.write(source.replace("learning_rate = 1e-3", "learning_rate = 1e-5"))
>>>>>>> REPLACE
"""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(admission, "review_patch", lambda *args, **kwargs: [])
        with pytest.raises(IntegrityError, match="node 1's program changed on disk"):
            recursor.try_patches("tiny-lm", [cripples], run_dir=run_dir, workers=1,
                                 overrides=SMALL, heldout=False, sandbox="none")
    assert "integrity error" in recursor.open_run(run_dir).report()["end_reason"]
