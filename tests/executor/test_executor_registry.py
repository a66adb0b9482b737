from __future__ import annotations

import subprocess
import sys

import pytest

from recursor.errors import SettingsError
from recursor.executor import EXECUTORS, LocalExecutor
from recursor.loop.config import RunConfig
from recursor.loop.setup import make_executor


def test_make_executor_builds_the_registered_executor(monkeypatch):
    local = make_executor(RunConfig(), workers=2)
    try:
        assert isinstance(local, LocalExecutor) and local.workers == 2
    finally:
        local.shutdown()
    built = []

    class Recording(LocalExecutor):
        pass

    def factory(workers: int, threads: int, address: str | None) -> LocalExecutor:
        built.append((workers, threads, address))
        return Recording(workers)

    with pytest.raises(SettingsError):
        RunConfig(executor="recording")
    monkeypatch.setitem(EXECUTORS, "recording", factory)
    executor = make_executor(RunConfig(executor="recording"), workers=3, threads=2)
    executor.shutdown()
    assert isinstance(executor, Recording) and built == [(3, 2, None)]


def test_the_ray_executor_is_imported_only_by_its_factory():
    assert "ray" in EXECUTORS
    # a fresh interpreter: this one may have imported the Ray pool for its own tests
    code = ("import sys, recursor.loop.setup, recursor.executor; "
            "sys.exit('recursor.executor.ray_pool' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
