"""Shared fixtures. Tests run the real `tiny-lm` task at a small token budget, never a fake one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# a small budget of the real task: a few seconds per experiment on one core. Two seeds: most of a
# test run's time is seed runs (each a fresh interpreter importing torch twice), and two are the
# fewest a baseline's noise floor or a candidate's completion can be measured on
SMALL = {
    "budget.train_tokens": 16384,
    "budget.train_seconds": 60,
    "limits.timeout_seconds": 120,
    "settings.eval_windows": 64,
    # at this budget predicting is most of an experiment: fewer fresh windows, probes and
    # repeats than the task's. Tests of the audits themselves use AUDITED, the task's own.
    "settings.fresh_windows": 32,
    "settings.probe_windows": 64,
    "settings.repeat_windows": 16,
    "seeds.values": [1, 2],
    "seeds.noise": 0,  # tiny-lm's own 3 noise seeds would be a second round of baseline runs
}
# the small budget with the task's own probes, repeats and fresh windows: where a test asks
# whether an audit catches a cheat, it gets the detection power a real run has
AUDITED = {**SMALL, "settings.fresh_windows": 128, "settings.probe_windows": 256,
           "settings.repeat_windows": 32}


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true",
                     help="also run the tests marked slow: real runs of the built-in tasks (the "
                          "whole suite takes about 30 minutes on 2 cores)")


def pytest_collection_modifyitems(config, items):
    """A bare `pytest` leaves out the slow tests; `--run-slow` (the README's test command, and
    so CI) runs them all, and so does any explicit `-m` expression."""
    if config.getoption("--run-slow") or config.option.markexpr:
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


# test modules whose programs, under the weaker sandbox, share the machine's /tmp, processes and
# network with whatever else runs: one test worker takes them all, one after another
TOGETHER = {"test_cheats.py", "test_scaffold_cheats.py", "test_sandbox.py", "test_program_host.py",
            "test_jobs.py"}


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: at most two test workers. Each real run already keeps two experiments going,
    so more workers only queue on the same cores and memory."""
    return max(1, min(2, os.cpu_count() or 1))


def pytest_xdist_make_scheduler(config, log):
    """Whole modules to a worker (a module's shared fixture, such as the cheat catalogue's one
    run, is made once), with the modules of TOGETHER on one worker."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "weaker-sandbox" if Path(module).name in TOGETHER else module

    return ByModule(config, log)


def pytest_report_header(config):
    if not (config.getoption("--run-slow") or config.option.markexpr):
        return "slow tests (real runs) left out: pytest --run-slow runs everything"
    return None


@pytest.fixture(autouse=True, scope="session")
def _offline_data(tmp_path_factory):
    """Tests never touch the network: data comes from RECURSOR_DATA or ../shared/data. Nor the
    user's discovery library: runs made by shared fixtures keep theirs in a session folder."""
    os.environ["RECURSOR_OFFLINE"] = "1"
    if not os.environ.get("RECURSOR_DATA") and SHARED_DATA.is_dir():  # set but empty is unset
        os.environ["RECURSOR_DATA"] = str(SHARED_DATA)
    os.environ["RECURSOR_LIBRARY"] = str(tmp_path_factory.mktemp("discoveries"))
    yield


@pytest.fixture(autouse=True)
def _own_discoveries(tmp_path, monkeypatch):
    """Each test's runs start from an empty discovery library of their own, so no test sees
    what another proved."""
    monkeypatch.setenv("RECURSOR_LIBRARY", str(tmp_path / "discoveries"))


@pytest.fixture
def small() -> dict:
    return dict(SMALL)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """One finished real run of tiny-lm at the small budget, shared by the tests that read it
    (and by every test worker: the first to need it makes it, the others wait and open it)."""
    from filelock import FileLock

    import recursor

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's base folder sits in the session's
        root = root.parent
    run_dir, done = root / "shared-small-run", root / "shared-small-run.done"
    with FileLock(str(root / "shared-small-run.lock")):
        if done.exists():
            return recursor.open_run(run_dir)
        # no held-out runs: no test of the shared run reads them, and they are a quarter of its
        # time; one noise seed, so that the run shows the baseline's extra seed through every
        # reader
        run = recursor.run("tiny-lm", run_dir=run_dir, experiments=4, workers=2,
                           overrides={**SMALL, "seeds.noise": 1}, heldout=False)
        done.touch()
        return run


@pytest.fixture
def tiny_lm_store(tmp_path):
    """A fresh run store holding tiny-lm's baseline, accepted: (task, store)."""
    from recursor.store import NodeStatus, RunStore
    from recursor.task import load_task

    task = load_task("tiny-lm")
    store = RunStore.create(tmp_path / "run", {"task": "tiny-lm"})
    base = store.add_node(None, None, task.program_files())
    store.decide(base.id, NodeStatus.ACCEPTED, "baseline")
    yield task, store
    store.close()
