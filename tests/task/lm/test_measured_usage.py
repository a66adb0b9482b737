"""The secondary metrics of tiny-lm are measured outside the program: a program that prints,
streams or writes a smaller account of its own time and memory changes nothing of what is
recorded (the fixture is tests/audit/cheats/usage-claimed-small.patch, which the cheat
catalogue also runs through a whole run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import SMALL

from recursor import patch as patches
from recursor.executor.local import run_job
from recursor.executor.sandbox import detect
from recursor.loop.jobs import make_job, resolve_data
from recursor.task import load_task

sys.path.insert(0, str(Path(__file__).parents[2] / "audit"))
import catalogue  # noqa: E402 - the cheat catalogue's reader, beside its fixtures

pytestmark = pytest.mark.slow

TASK = load_task("tiny-lm", SMALL)
FIXTURE = catalogue.read(Path(__file__).parents[2] / "audit" / "cheats" /
                         "usage-claimed-small.patch")


def test_what_the_program_claims_of_its_usage_is_not_what_is_recorded(tmp_path):
    files = patches.apply(patches.parse_any(FIXTURE.path.read_text()), TASK.program_files())
    folder = tmp_path / "program"
    folder.mkdir()
    (folder / "train.py").write_text(files["train.py"])
    job = make_job(TASK, folder, tmp_path / "job", 1, "val_bpb", resolve_data(TASK),
                   sandbox=detect())
    result = run_job(job)
    assert result.ok, result.reason
    measured = result.metrics["metrics"]
    # the program did try: its claim is in its log and in its (forwarded) progress curve
    assert '"peak_memory_mb": 1.0' in job.program_log.read_text()
    assert any(p.get("peak_memory_mb") == 1.0 for p in result.curve)
    # what is recorded is the harness's measurement, which the ballast raises
    for name, least in catalogue.measured_floors(FIXTURE).items():
        assert measured[name] >= least, (name, measured[name])
    assert measured["peak_memory_mb"] == result.metrics["usage"]["train"]["max_rss_mb"]
    assert measured["train_seconds"] == result.metrics["usage"]["train"]["wall"]
    assert result.value == measured["val_bpb"] != 0.5
