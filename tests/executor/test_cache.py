"""The result cache (recursor.executor.cache): a seed run that repeats is replayed with its
recorded result, files and seconds; anything that could change the result is another key; only
what ended normally, under bwrap, is kept; a broken entry is a miss."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from conftest import SMALL
from rich.console import Console

import recursor
from recursor.discoveries import program_hash
from recursor.executor import LocalExecutor
from recursor.executor.cache import MARKER, CachedExecutor, ResultCache, cache_key
from recursor.executor.job import Job, JobResult
from recursor.executor.sandbox import Sandbox
from recursor.loop.config import RunConfig
from recursor.loop.jobs import make_job, program_fingerprint, task_fingerprint
from recursor.loop.setup import make_executor
from recursor.settings import SETTINGS, keywords
from recursor.task import load_task

TASK = load_task("tiny-lm", SMALL)
BWRAP = Sandbox("bwrap", tool="/usr/bin/bwrap")  # a config under bwrap; nothing runs here
BASELINE = TASK.program_files()["train.py"]
CANCELLED = "cancelled: the run was interrupted"


def program(folder: Path, source: str = BASELINE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(source)
    return folder


def job(where: Path, *, seed: int = 1, source: str = BASELINE, task=TASK, sandbox=BWRAP,
        evaluation: str = "val_bpb", usage: tuple = (), key: str = "1") -> Job:
    """A job as the loop makes it, in a run folder of its own (`where`): its paths are that
    run's, and nothing else."""
    data = {d.name: str(where / "data" / d.file) for d in task.spec.data}
    return make_job(task, program(where / "workspace", source), where / "evals" / key, seed,
                    evaluation, data, sandbox=sandbox, key=key, parent_usage=usage)


class Scripted:
    """An executor that does what a harness would (writes the job's files) without running
    anything, and returns `result` (an ok result by default, as the job's seed decides)."""

    workers = 1

    def __init__(self, reason: str | None = None, raises: Exception | None = None):
        self.reason, self.raises = reason, raises
        self.ran: list[str] = []
        self.cancelled: list[str] = []

    def submit(self, job: Job) -> Future[JobResult]:
        self.ran.append(job.key)
        job.job_dir.mkdir(parents=True, exist_ok=True)
        value = 3.0 + job.config["seed"] / 7
        curve = [{"step": s, "progress": s / 4, "train_loss": 5.0 - s / 3} for s in range(1, 5)]
        lines = [{"type": "curve", **p, "token": job.token} for p in curve]
        lines.append({"type": "result", "metrics": {"val_bpb": value}, "token": job.token})
        (job.job_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
        (job.job_dir / "harness.log").write_bytes(b"loading \xff\xfe not text\n")
        (job.job_dir / "program.log").write_text(f"seed {job.config['seed']}: step 4\n")
        (job.job_dir / "config.json").write_text(json.dumps(job.config))
        (job.job_dir / "pid").write_text("4242")
        out: Future[JobResult] = Future()
        if self.raises is not None:
            out.set_exception(self.raises)
        elif self.reason is not None:
            # with a number, as an executor might send one with its failure: still not kept
            out.set_result(JobResult(job.key, False, value, {}, self.reason, 31.0, curve[:2]))
        else:
            metrics = {"metrics": {"val_bpb": value, "train_seconds": 9.5},
                       "usage": {"predict": {"cpu": 1.25}},
                       "findings": [{"check": "budget.threads", "blocking": False,
                                     "message": "used 1.4 cores", "evidence": "cpu 14 s"}]}
            out.set_result(JobResult(job.key, True, value, metrics, None, 12.75, curve))
        return out

    def cancel(self, key: str) -> None:
        self.cancelled.append(key)

    def cancel_all(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.json"))


def test_a_repeat_is_replayed_with_its_result_its_files_and_its_seconds(tmp_path):
    inner = Scripted()
    cached = CachedExecutor(inner, tmp_path / "cache")
    first_job = job(tmp_path / "run-a")
    first = cached.submit(first_job).result()
    assert inner.ran == ["1"] and len(entries(tmp_path / "cache")) == 1
    # another run: every path differs (its folder, its program's copy, its data's), and the
    # loop gives the job another key
    again = job(tmp_path / "run-b", key="7")
    replayed = cached.submit(again).result()
    assert inner.ran == ["1"]  # nothing ran
    assert replayed.key == "7" and replayed.ok and replayed.reason is None
    assert (replayed.value, replayed.seconds, replayed.curve) == (
        first.value, first.seconds, first.curve)
    mark = replayed.metrics.pop("replayed")
    assert replayed.metrics == first.metrics  # the findings too: they are raised again
    assert mark["job_dir"] == str(first_job.job_dir) and mark["seconds"] == 12.75
    for name in ("metrics.jsonl", "harness.log", "program.log"):
        assert (again.job_dir / name).read_bytes() == (first_job.job_dir / name).read_bytes()
    assert not (again.job_dir / "config.json").exists() and not (again.job_dir / "pid").exists()
    assert json.loads((again.job_dir / MARKER).read_text())["key"] == cache_key(again)
    assert cached.stats == {"ran": 1, "kept": 1, "replayed": 1}
    assert "1 seed run(s) replayed, 1 run, 1 kept" in cached.summary()


def _other_harness(tmp_path: Path):
    folder = tmp_path / "task"
    shutil.copytree(TASK.root, folder)
    harness = folder / "harness.py"
    harness.write_text(harness.read_text().replace("PREDICT_SECONDS = 60", "PREDICT_SECONDS = 61"))
    return load_task(folder, SMALL)


# each changes one thing that may change a seed run's result
MISSES = {
    "another seed": lambda tmp: {"seed": 2},
    "another program": lambda tmp: {"source": BASELINE.replace("1e-3", "2e-3", 1)},
    "another override": lambda tmp: {"task": load_task("tiny-lm", {**SMALL,
                                                                   "budget.train_tokens": 8192})},
    "another harness": lambda tmp: {"task": _other_harness(tmp)},
    "another evaluation": lambda tmp: {"evaluation": "wikitext2_bpb"},
    "another parent usage": lambda tmp: {"usage": ({"predict": {"cpu": 2.0}},)},
}


@pytest.mark.parametrize("change", MISSES)
def test_what_can_change_a_result_is_another_key(tmp_path, change):
    assert BASELINE.count("1e-3")  # the program change below changes something
    inner = Scripted()
    cached = CachedExecutor(inner, tmp_path / "cache")
    cached.submit(job(tmp_path / "a")).result()
    other = job(tmp_path / "b", key="2", **MISSES[change](tmp_path))
    assert cache_key(other) != cache_key(job(tmp_path / "c", key="3"))
    result = cached.submit(other).result()
    assert inner.ran == ["1", "2"] and "replayed" not in result.metrics
    assert len(entries(tmp_path / "cache")) == 2  # and the new one is kept beside the first


def test_what_no_harness_reads_is_the_same_key(tmp_path):
    # the idea library (a run given more ideas) and the editable files of the task folder (a
    # discovery's task folder holds its parent's program there) are not a seed run's inputs
    folder = tmp_path / "task"
    shutil.copytree(TASK.root, folder)
    (folder / "ideas" / "mine.toml").write_text((TASK.root / "ideas" / "dropout.toml").read_text())
    (folder / "train.py").write_text(BASELINE.replace("1e-3", "2e-3", 1))
    task = load_task(folder, SMALL)
    assert task_fingerprint(task) == task_fingerprint(TASK)
    assert cache_key(job(tmp_path / "a", task=task)) == cache_key(job(tmp_path / "b"))
    # where the task folder lies is not part of it either; its content is
    assert task_fingerprint(_other_harness(tmp_path / "x")) != task_fingerprint(TASK)


def test_the_program_hash_is_the_one_the_run_records_for_its_nodes(tmp_path):
    made = job(tmp_path / "a")
    assert made.program_hash == program_hash({"train.py": BASELINE})
    assert made.task_hash == task_fingerprint(TASK)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "blob").write_bytes(b"\xff\xfe")
    assert program_fingerprint(tmp_path / "bin") is None  # not a program the store can hold


@pytest.mark.parametrize("reason", [
    CANCELLED,
    "experiment exceeded the time limit of 120 s and was killed with everything it started",
    "the harness exited with code 1 without a result: MemoryError",
    "training failed with exit code 1: RuntimeError: bad init",
])
def test_a_run_that_did_not_end_normally_is_never_kept(tmp_path, reason):
    inner = Scripted(reason=reason)
    cached = CachedExecutor(inner, tmp_path / "cache")
    for key in ("1", "2"):
        result = cached.submit(job(tmp_path / key, key=key)).result()
        assert not result.ok and result.reason == reason and "replayed" not in result.metrics
    assert inner.ran == ["1", "2"] and entries(tmp_path / "cache") == []
    assert cached.stats["not kept: failed"] == 2


def test_an_executor_error_is_passed_on_and_not_kept(tmp_path):
    cached = CachedExecutor(Scripted(raises=RuntimeError("lost the node")), tmp_path / "cache")
    with pytest.raises(RuntimeError, match="lost the node"):
        cached.submit(job(tmp_path / "a")).result()
    assert entries(tmp_path / "cache") == []


def test_a_weaker_sandbox_or_a_job_without_its_hashes_is_never_cached(tmp_path):
    inner = Scripted()
    cached = CachedExecutor(inner, tmp_path / "cache")
    weak = job(tmp_path / "a", sandbox=Sandbox("none"))
    bare = dataclasses.replace(job(tmp_path / "b", key="2"), program_hash=None)
    for made in (weak, weak, bare, bare):
        assert "replayed" not in cached.submit(made).result().metrics
    assert inner.ran == ["1", "1", "2", "2"] and entries(tmp_path / "cache") == []
    assert "not used under the none sandbox" in cached.describe("none")


def _truncate(path: Path) -> None:
    path.write_text(path.read_text()[:200])


def _edit(change):
    def apply(path: Path) -> None:
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return apply


CORRUPTIONS = {
    "cut short": _truncate,
    "empty": lambda path: path.write_bytes(b""),
    "not an object": lambda path: path.write_text("[1, 2]"),
    "another key": _edit(lambda d: d.update(key="0" * 64)),
    "another format": _edit(lambda d: d.update(format=0)),
    "a failed result": _edit(lambda d: d["result"].update(ok=False)),
    "no value": _edit(lambda d: d["result"].update(value=None)),
    "a file outside the job": _edit(lambda d: d["files"].update({"../escape": {"text": "x"}})),
    "bad base64": _edit(lambda d: d["files"].update({"harness.log": {"base64": "%%%"}})),
    "unreadable": lambda path: path.chmod(0),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_broken_entry_is_a_miss_and_is_written_again(tmp_path, corruption):
    inner = Scripted()
    cached = CachedExecutor(inner, tmp_path / "cache")
    cached.submit(job(tmp_path / "a")).result()
    [entry] = entries(tmp_path / "cache")
    CORRUPTIONS[corruption](entry)
    if corruption == "unreadable" and os.access(entry, os.R_OK):
        pytest.skip("this user reads files whatever their mode (root)")
    result = cached.submit(job(tmp_path / "b", key="2")).result()
    assert result.ok and "replayed" not in result.metrics and inner.ran == ["1", "2"]
    assert not (tmp_path / "b" / "evals" / "2" / "escape").exists()
    assert not (tmp_path / "b" / "evals" / "escape").exists()
    # written again whole: the next repeat is replayed
    assert "replayed" in cached.submit(job(tmp_path / "c", key="3")).result().metrics
    assert inner.ran == ["1", "2"]


def test_a_cache_that_cannot_be_written_costs_only_the_speed_up(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("recursor.executor.cache.os.replace", refuse)
    inner = Scripted()
    cached = CachedExecutor(inner, tmp_path / "cache")
    result = cached.submit(job(tmp_path / "a")).result()
    assert result.ok and cached.stats["not kept: cache not writable"] == 1
    assert list((tmp_path / "cache").rglob("*")) == [tmp_path / "cache" / cache_key(
        job(tmp_path / "b"))[:2]]  # no entry, and no temporary file left beside it


def test_a_result_reaches_the_loop_whatever_keeping_it_does(tmp_path, monkeypatch):
    def broken(job_dir):
        raise RuntimeError("a bug in the cache")

    monkeypatch.setattr("recursor.executor.cache._files", broken)
    cached = CachedExecutor(Scripted(), tmp_path / "cache")
    assert cached.submit(job(tmp_path / "a")).result(timeout=10).ok


def test_entries_are_written_whole_by_concurrent_writers(tmp_path):
    # two runs keeping the same seed run at once: the entry is one of theirs, whole
    store = ResultCache(tmp_path / "cache")
    inner = Scripted()
    made = job(tmp_path / "a")
    recorded = inner.submit(made).result()
    cached = CachedExecutor(inner, tmp_path / "cache")
    key = cache_key(made)
    writers = [threading.Thread(target=cached._keep, args=(made, key, recorded))
               for _ in range(8)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    entry = store.get(key)
    assert entry is not None and entry.value == recorded.value
    assert [p.name for p in store.path(key).parent.iterdir()] == [store.path(key).name]


def test_the_cache_setting_is_a_resolved_folder_and_wraps_the_executor(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = RunConfig.from_keywords(keywords({"cache": "results"}, SETTINGS))
    assert config.cache == str(tmp_path / "results")  # stored resolved: resume finds it
    assert RunConfig.from_json(RunConfig().to_json() | {"cache": None}).cache is None
    assert RunConfig.from_json({"experiments": 3}).cache is None  # a run stored before it
    executor = make_executor(config, workers=1)
    try:
        assert isinstance(executor, CachedExecutor) and isinstance(executor.inner, LocalExecutor)
        assert executor.cache.root == tmp_path / "results" and executor.workers == 1
    finally:
        executor.shutdown()
    plain = make_executor(RunConfig(), workers=1)
    plain.shutdown()
    assert isinstance(plain, LocalExecutor)


# -- the point: a run made again from the cache is the same run ---------------------------

def _tree(run):
    return [(n.id, n.parent_id, n.idea.key if n.idea else None, n.status, n.reason,
             n.verdict.to_json() if n.verdict else None) for n in run.nodes()]


def _seed_runs(run):
    return {(e.node_id, e.evaluation, e.seed): (
        e.status, e.value, e.seconds, run.curve(e.id),
        {k: v for k, v in e.metrics.items() if k != "replayed"})
        for n in run.nodes() for e in n.evaluations}


@pytest.mark.slow
def test_a_run_made_again_from_the_cache_is_the_same_run_at_a_fraction_of_the_time(tmp_path):
    from recursor.cli.views import node_view

    cache = tmp_path / "cache"

    def timed(name):
        started = time.monotonic()
        # each run in a folder of its own: the value function reads the runs beside a run
        # folder as its history, and the second run must start from what the first did
        run = recursor.run("tiny-lm", run_dir=tmp_path / name / "run", experiments=2, workers=1,
                           seed=0, heldout=False, discoveries=False, cache=cache,
                           overrides=dict(SMALL))
        return run, time.monotonic() - started

    first, first_seconds = timed("first")
    second, second_seconds = timed("second")
    runs = [e for n in first.nodes() for e in n.evaluations]
    assert len(runs) >= 4 and len(first.nodes()) == 3
    assert not any("replayed" in e.metrics for e in runs)
    assert _tree(second) == _tree(first)
    assert _seed_runs(second) == _seed_runs(first)  # values, seconds, curves, metrics
    replayed = [e for n in second.nodes() for e in n.evaluations]
    assert replayed and all(isinstance(e.metrics.get("replayed"), dict) for e in replayed)
    assert sum(e.seconds for e in replayed) == sum(e.seconds for e in runs)
    assert second_seconds < first_seconds / 4, (first_seconds, second_seconds)
    messages = [e["message"] for e in second.events()]
    assert any("replayed from the result cache" in m for m in messages)
    assert any(m.startswith(f"result cache: {len(replayed)} seed run(s) replayed, 0 run")
               for m in messages)
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(node_view(second.run_dir, 1))
    assert "from cache" in console.export_text()
    print(f"first run {first_seconds:.1f} s, second run {second_seconds:.1f} s, "
          f"{len(replayed)} seed runs replayed")
