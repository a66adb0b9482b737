"""One experiment as the executor sees it: a harness command, its config, and what came back.

The harness contract, for a harness written in any language:

- it is started from the task folder with the task's harness command, in a clean environment
  holding `RECURSOR_CONFIG` (a JSON file: seed, workspace, scratch folder, metrics file, data
  paths, budget, limits, settings, and the evaluation to run), plus the most used fields as
  `RECURSOR_SEED`, `RECURSOR_WORKSPACE`, `RECURSOR_SCRATCH` and `RECURSOR_METRICS`;
- it writes the metrics file itself, one JSON object per line: `{"type": "curve", ...}` points
  while the program runs (with `progress`, the share of the experiment done from 0 to 1, and
  the task's `metric.curve` quantity, the value function can stop a doomed experiment early),
  then `{"type": "result", "metrics": {NAME: value}}` or
  `{"type": "error", "reason": "..."}`. Nothing is read off its stdout.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recursor.task.spec import LimitsSpec

EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Interrupt)|Killed)\b.*")


@dataclass(frozen=True)
class Job:
    key: str
    command: tuple[str, ...]
    task_dir: Path  # where the harness command runs
    job_dir: Path  # metrics, logs and the scratch folder of this one experiment
    config: dict[str, Any]  # the task-level part; paths are added by `prepare`
    limits: LimitsSpec
    evaluation: str  # the metric name the harness must report
    # the program's folder; by default inside the job folder (under bwrap the program sees
    # nothing else). Under a weaker sandbox it lies elsewhere, so that nothing of the run (its
    # config, its data paths, other experiments) is reachable from it by a relative path
    scratch_dir: Path | None = None
    program_source: Path | None = None  # copied to `workspace_dir` by `prepare`
    workspace_dir: Path | None = None
    # handed to the harness in its environment only (never in config.json): a harness that
    # writes it into each metrics record (`recursor.harness.Metrics` does) has records nobody
    # else can forge, should the program reach the metrics file under a weaker sandbox
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    # what decides the result beside the config, which the executor cannot see for itself:
    # the hash of the task folder's read-only content and of the program's files (made where
    # the job is made, recursor.loop.jobs). A job without both is never replayed from a
    # result cache (recursor.executor.cache)
    task_hash: str | None = None
    program_hash: str | None = None

    @property
    def metrics_file(self) -> Path:
        return self.job_dir / "metrics.jsonl"

    @property
    def scratch(self) -> Path:
        return self.scratch_dir or self.job_dir / "scratch"

    @property
    def harness_log(self) -> Path:
        return self.job_dir / "harness.log"

    @property
    def program_log(self) -> Path:
        return self.job_dir / "program.log"

    def prepare(self) -> Path:
        """Create the job folder and the scratch folder, copy the program in (every job gets
        its own copy: a program that rewrites its files reaches neither the node's workspace
        nor the other seeds), write the harness's config; return the config's path."""
        self.job_dir.mkdir(parents=True, exist_ok=True)
        self.scratch.mkdir(parents=True, exist_ok=True)
        # a job run again in its folder (a measurement repeated) starts from an empty metrics
        # file: the records of the last attempt carry another token, and would read as forged
        self.metrics_file.unlink(missing_ok=True)
        if self.program_source is not None and self.workspace_dir is not None:
            shutil.rmtree(self.workspace_dir, ignore_errors=True)  # a run again, after a kill
            shutil.copytree(self.program_source, self.workspace_dir)
        config = dict(self.config)
        config.update(
            metrics_file=str(self.metrics_file),
            scratch=str(self.scratch),
            program_log=str(self.program_log),
            limits=self.limits.model_dump(),
        )
        path = self.job_dir / "config.json"
        path.write_text(json.dumps(config, indent=1))
        return path

    def cleanup(self) -> None:
        """Remove the scratch folder: checkpoints and data copies, not evidence (the logs and
        metrics stay in the job folder)."""
        shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass(frozen=True)
class JobResult:
    key: str
    ok: bool
    value: float | None
    metrics: dict[str, Any]
    reason: str | None
    seconds: float
    curve: list[dict[str, Any]] = field(default_factory=list)


def read_metrics(path: Path, token: str | None = None
                 ) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str | None]:
    """(curve points, result record, error reason) from a harness's metrics file. With the
    job's `token`, when the harness signs its records with it, only those count."""
    curve: list[dict[str, Any]] = []
    result: dict[str, Any] | None = None
    error: str | None = None
    for record in _records(path, token)[0]:
        kind = record.pop("type", None)
        if kind == "curve":
            curve.append(record)
        elif kind == "result":
            result = record
        elif kind == "error":
            error = str(record.get("reason", "the harness reported an error"))
    return curve, result, error


def forged_records(path: Path, token: str) -> int:
    """How many lines of a signed metrics file its harness did not write: records without the
    job's token, and broken lines before the last one (a kill cuts only the last line short).
    0 when the harness does not sign its records (a harness of another kind)."""
    return _records(path, token)[1]


def _records(path: Path, token: str | None) -> tuple[list[dict[str, Any]], int]:
    if not path.exists():
        return [], 0
    lines = path.read_text(errors="replace").splitlines()
    records, broken = [], 0
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            broken += i < len(lines) - 1  # the last line may have been cut short by a kill
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            broken += 1
    if token is None or not any(r.get("token") == token for r in records):
        for r in records:  # read without the job (a report): the signature is not a metric
            r.pop("token", None)
        return records, 0  # or nothing signed: a harness that does not sign
    signed = [r for r in records if r.pop("token", None) == token]
    return signed, len(records) - len(signed) + broken


def last_exception(*logs: Path) -> str | None:
    """The last exception line of the first log that has one (e.g. 'MemoryError')."""
    for log in logs:
        if not log.exists():
            continue
        lines = log.read_text(errors="replace").splitlines()
        for line in reversed(lines[-200:]):
            if EXCEPTION_LINE.match(line):
                return line.strip()[:300]
    return None


_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<where>.+)$')


def program_traceback(log: Path, names: Iterable[str], most: int = 6) -> str | None:
    """The last traceback of a log told in the program's own terms: its frames in the files
    named `names` (as `train.py, line 128, in forward` with the line's code), the last `most`
    of them, and the exception. What a model needs to fix its code; the frames of Python, of
    libraries and of the sandbox are left out. None when the log has no traceback."""
    if not log.exists():
        return None
    lines = log.read_text(errors="replace").splitlines()[-400:]
    start = max((i for i, line in enumerate(lines) if line.startswith("Traceback")),
                default=None)
    if start is None:
        return None
    wanted = set(names)
    frames, exception = [], None
    for i in range(start + 1, len(lines)):
        frame = _FRAME.match(lines[i])
        if frame:
            path = frame["path"].replace("\\", "/")
            name = next((n for n in wanted if path == n or path.endswith("/" + n)), None)
            code = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if name is not None:
                frames.append(f"  {name}, line {frame['line']}, in {frame['where']}"
                              + (f"\n    {code}" if code and not code.startswith("File ") else ""))
        elif EXCEPTION_LINE.match(lines[i]):
            exception = lines[i].strip()[:400]
    if exception is None:
        return None
    return "\n".join(["Traceback (the program's own lines, most recent last):",
                      *frames[-most:], exception])


def tail(path: Path, n: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
