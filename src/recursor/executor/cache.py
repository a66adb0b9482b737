"""A cache of finished seed runs, shared by every run that names it: `CachedExecutor`.

A seed run is a function of its inputs: the same program on the same seed, under the same task,
evaluation and settings, trains and scores the same way. Runs that repeat one (the baseline of
every run of a task, the same library idea on the same parent in the inner runs of a
meta-loop) can take the recorded result instead of running it again:

    executor = CachedExecutor(LocalExecutor(2), "~/.cache/recursor/results")

wraps any executor. `submit` looks the job up; on a hit it writes the recorded files into the
job's folder and returns a future that is already done, with the recorded result (its
`seconds` too, so that the compute a run accounts for is the same with or without the cache)
and `metrics["replayed"]` saying where it came from. On a miss the job goes to the inner
executor, and its result is kept when it lands.

The key (`cache_key`) is the hash of everything that decides a result:
- the job's config as the harness gets it, without the paths that differ from run to run
  (workspace, data files, the sandbox's argv): task name, seed, evaluation, budget, settings,
  the data's sha256, the sandbox's kind, and the parent's usage that the harness's cost audits
  compare with; the job's limits, its command (the interpreter's path included) and metric;
- `job.task_hash` and `job.program_hash`, made where the job is made: the task folder's
  read-only content and the program's files; a job without them is never cached;
- `FORMAT`, recursor's version, a hash of the recursor code an experiment runs (the harness
  kit, the task helpers, the executor and sandbox) and of the interpreter and installed
  packages, so that an upgrade, or an edit of that code, never replays an older result.

What is kept: a result that ended normally (`ok`), with its metrics as the harness reported
them (its audits' findings included: a replay raises them again, so a node they blocked is
blocked again), its curve, its reason, its seconds, and the files a later reader opens in the
job folder (metrics.jsonl, harness.log, program.log: every top-level file but config.json and
pid, which hold that job's paths and process). Never kept: a failed job, whatever failed (a
time limit, a kill, a cancel, a stop by the value function, a forged metrics file, a harness
error: a result says which it was only in words), and a job run under a sandbox weaker than
`bwrap`: there the program can reach the cache folder, the harness and the data by absolute
path, and a result it could have written is not one to hand to other runs.

Storage: one JSON file per key (`FOLDER/ab/abcd....json`), written to a temporary file beside
it and renamed into place. A folder rather than SQLite: Ray runs keep their folders on a shared
file system, where a rename stays atomic and SQLite's WAL mode does not work; several runs
writing at once never lock each other (the same key written twice holds one of two equally
valid results); and an entry is a file a person can read or delete. An entry that cannot be
read, or does not hold what it should, is a miss, never an error.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Collection, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import recursor
from recursor.executor.base import Executor
from recursor.executor.job import Job, JobResult

FORMAT = 1  # of the key and the entry; bump it when either changes meaning
# the sandboxes whose programs cannot reach the cache folder, the harness or the data
TRUSTED_SANDBOXES = ("bwrap",)
# the recursor code an experiment runs: the harness kit, the task helpers built-in harnesses
# import, and what starts, confines and reads the experiment
EXPERIMENT_CODE = ("__init__.py", "errors.py", "harness", "task", "executor")
NOT_KEPT = ("config.json", "pid")  # that job's paths and process, not its result
MARKER = "replayed.json"  # written into a replayed job's folder: where its files came from
MAX_BYTES = 64 << 20  # an entry's files together; a larger job is run, not kept
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


# -- the key ------------------------------------------------------------------------------

@functools.cache
def environment() -> dict[str, str]:
    """What decides a seed run beside the job: recursor's version and the code of it an
    experiment runs, the interpreter, the installed packages (torch's version among them)."""
    root = Path(recursor.__file__).resolve().parent
    code = hashlib.sha256()
    for part in EXPERIMENT_CODE:
        paths = [root / part] if part.endswith(".py") else sorted((root / part).rglob("*.py"))
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                code.update(path.relative_to(root).as_posix().encode() + b"\0")
                code.update(hashlib.sha256(path.read_bytes()).digest())
    packages = sorted(f"{d.metadata.get('Name') or ''}=={d.version}"
                      for d in importlib.metadata.distributions())
    return {
        "recursor": recursor.__version__,
        "code": code.hexdigest(),
        "python": sys.version,
        "packages": hashlib.sha256("\n".join(packages).encode()).hexdigest(),
    }


def identity(job: Job) -> dict[str, Any] | None:
    """Everything that decides `job`'s result, without the paths that differ between runs;
    None when the job does not carry its task and program hashes."""
    if not job.task_hash or not job.program_hash:
        return None
    config = {k: v for k, v in job.config.items() if k != "workspace"}
    data = config.get("data")
    if isinstance(data, list):  # the files are checked by their sha256, wherever they are
        config["data"] = [{k: v for k, v in d.items() if k != "path"} if isinstance(d, dict)
                          else d for d in data]
    box = config.get("sandbox")
    if isinstance(box, dict):  # its argv names this job's folders
        config["sandbox"] = {"kind": box.get("kind"), "protections": box.get("protections")}
    return {
        "format": FORMAT,
        **environment(),
        "task": job.task_hash,
        "program": job.program_hash,
        "command": list(job.command),
        "limits": job.limits.model_dump(),
        "evaluation": job.evaluation,
        "config": config,
    }


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(job: Job) -> str | None:
    """The job's key in a result cache; None: the job is not one a cache may replay."""
    found = identity(job)
    return None if found is None else hashlib.sha256(_canonical(found).encode()).hexdigest()


def sandbox_kind(job: Job) -> str | None:
    box = job.config.get("sandbox")
    return box.get("kind") if isinstance(box, dict) else None


# -- the folder ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Recorded:
    """One kept result: what the job returned, the files of its folder, and where from."""

    ok: bool
    value: float
    metrics: dict[str, Any]
    reason: str | None
    seconds: float
    curve: list[dict[str, Any]]
    files: dict[str, bytes]
    job_dir: str  # the folder of the job that ran it
    recorded_at: float


class ResultCache:
    """The cache's folder: one JSON file per key."""

    def __init__(self, folder: Path | str):
        self.root = Path(folder).expanduser()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Recorded | None:
        """The entry of `key`; None when there is none or it cannot be read as one."""
        try:
            return _entry(key, json.loads(self.path(key).read_text()))
        except Exception:  # a broken entry of any kind is a miss: the job simply runs
            return None

    def put(self, key: str, entry: Recorded, about: Mapping[str, Any]) -> None:
        """Keep `entry` under `key`, whole or not at all (`about`: the key's material, kept
        beside it so that a person can see what an entry is). Raises OSError."""
        files = {}
        for name, data in entry.files.items():
            try:
                files[name] = {"text": data.decode()}
            except UnicodeDecodeError:
                files[name] = {"base64": base64.b64encode(data).decode()}
        text = json.dumps({
            "format": FORMAT, "key": key, "identity": about,
            "recorded_at": entry.recorded_at, "job_dir": entry.job_dir,
            "result": {"ok": entry.ok, "value": entry.value, "metrics": entry.metrics,
                       "reason": entry.reason, "seconds": entry.seconds, "curve": entry.curve},
            "files": files,
        }, default=str)
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}-", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)  # readers see the old entry or the new, never half of one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _entry(key: str, data: dict[str, Any]) -> Recorded | None:
    """An entry as read, checked field by field: anything amiss makes it a miss."""
    if data.get("format") != FORMAT or data.get("key") != key:
        return None
    result, stored = data["result"], data["files"]
    value, seconds = result["value"], result["seconds"]
    if (result["ok"] is not True or not _number(value) or not math.isfinite(value)
            or not _number(seconds) or not isinstance(result["metrics"], dict)
            or not isinstance(result["curve"], list)
            or not all(isinstance(p, dict) for p in result["curve"])
            or not (result["reason"] is None or isinstance(result["reason"], str))
            or not isinstance(stored, dict)):
        return None
    files = {}
    for name, body in stored.items():
        if not _NAME.match(name) or name in (*NOT_KEPT, MARKER):
            return None
        files[name] = (body["text"].encode() if "text" in body
                       else base64.b64decode(body["base64"], validate=True))
    return Recorded(True, float(value), result["metrics"], result["reason"], float(seconds),
                    result["curve"], files, str(data.get("job_dir", "")),
                    float(data.get("recorded_at", 0.0)))


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _files(job_dir: Path) -> dict[str, bytes] | None:
    """The top-level files of a finished job's folder a reader opens; None when they are more
    than an entry holds."""
    found, size = {}, 0
    for path in sorted(job_dir.iterdir()):
        if path.name in NOT_KEPT or not path.is_file() or not _NAME.match(path.name):
            continue
        data = path.read_bytes()
        size += len(data)
        if size > MAX_BYTES:
            return None
        found[path.name] = data
    return found


# -- the executor -------------------------------------------------------------------------

class CachedExecutor:
    """`inner`, with a result cache in `folder` in front of it (see the module's notes).

    `stats` counts what happened: `replayed` (hits), `ran` (jobs sent to `inner`), `kept`
    (results written to the cache), and the reasons results were not kept."""

    def __init__(self, inner: Executor, folder: Path | str, *,
                 trusted: Collection[str] = TRUSTED_SANDBOXES):
        self.inner = inner
        self.workers = inner.workers
        self.cache = ResultCache(folder)
        self.trusted = frozenset(trusted)
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()

    def describe(self, sandbox: str | None = None) -> str:
        where = f"result cache at {self.cache.root}"
        if sandbox is not None and sandbox not in self.trusted:
            return (f"{where}: not used under the {sandbox} sandbox (only results run under "
                    f"{' or '.join(sorted(self.trusted))}, whose programs cannot reach the "
                    "cache, are kept and replayed)")
        return (f"{where}: a seed run it holds (same task, program, seed, evaluation and "
                "settings) is replayed with its recorded result and seconds; every seed run "
                "that ends normally is kept")

    def summary(self) -> str:
        s = self.stats
        text = f"result cache: {s['replayed']} seed run(s) replayed, {s['ran']} run, {s['kept']} kept"
        skipped = {k.removeprefix("not kept: "): v for k, v in s.items()
                   if k.startswith("not kept: ")}
        if skipped:
            text += " (not kept: " + ", ".join(f"{v} {k}" for k, v in sorted(skipped.items())) + ")"
        return text

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def submit(self, job: Job) -> Future[JobResult]:
        key = cache_key(job) if sandbox_kind(job) in self.trusted else None
        if key is not None:
            recorded = self.cache.get(key)
            result = replay(recorded, job, key) if recorded is not None else None
            if result is not None:
                self._count("replayed")
                done: Future[JobResult] = Future()
                done.set_result(result)
                return done
        self._count("ran")
        inner = self.inner.submit(job)
        if key is None:
            return inner
        # the caller sees the result once it is kept: the next job with the same key (the
        # same run resumed, another run in this process) finds it
        out: Future[JobResult] = Future()
        inner.add_done_callback(lambda landed: self._landed(job, key, landed, out))
        return out

    def _landed(self, job: Job, key: str, landed: Future[JobResult],
                out: Future[JobResult]) -> None:
        if landed.cancelled():
            out.cancel()
            return
        err = landed.exception()
        if err is not None:
            out.set_exception(err)
            return
        result = landed.result()
        try:
            self._keep(job, key, result)
        finally:  # whatever keeping does, the loop gets its result: an unsettled future hangs it
            out.set_result(result)

    def _keep(self, job: Job, key: str, result: JobResult) -> None:
        """Write a finished result to the cache if it is one to keep; never raises: a cache
        that cannot be written costs a run only its speed-up."""
        if not (result.ok and _number(result.value) and math.isfinite(result.value)):
            self._count("not kept: failed")
            return
        try:
            files = _files(job.job_dir)
            if files is None:
                self._count("not kept: too large")
                return
            about = identity(job)
            entry = Recorded(True, float(result.value), dict(result.metrics), result.reason,
                             float(result.seconds), [dict(p) for p in result.curve], files,
                             str(job.job_dir), time.time())
            self.cache.put(key, entry, about or {})
        except (OSError, TypeError, ValueError):
            self._count("not kept: cache not writable")
            return
        self._count("kept")

    def cancel(self, key: str) -> None:
        # a replayed job is done already; the others are the inner executor's
        self.inner.cancel(key)

    def cancel_all(self) -> None:
        self.inner.cancel_all()

    def shutdown(self) -> None:
        self.inner.shutdown()


def replay(recorded: Recorded, job: Job, key: str) -> JobResult | None:
    """The recorded result as `job`'s, its files written into the job's folder; None when
    they cannot be written there (then the job runs)."""
    about = {"key": key, "job_dir": recorded.job_dir, "recorded_at": recorded.recorded_at,
             "seconds": recorded.seconds}
    try:
        job.job_dir.mkdir(parents=True, exist_ok=True)
        for name, data in recorded.files.items():
            (job.job_dir / name).write_bytes(data)
        (job.job_dir / MARKER).write_text(json.dumps(about, indent=1) + "\n")
    except OSError:
        return None
    metrics = {**recorded.metrics, "replayed": about}
    return JobResult(job.key, True, recorded.value, metrics, recorded.reason, recorded.seconds,
                     [dict(p) for p in recorded.curve])
