"""Running a guard program in the sandbox, for the harnesses of the red-teaming tasks: it trains
once, and every score call is a fresh process that finds only the model and its prompts.

A guard is untrusted code (a candidate of `redteam-defend`, or the defender an attacker faces):
it runs only through the sandbox's host, and hands back a JSON list of numbers that
`read_scores` checks. What training leaves in the scratch folder (the model, and the guard's
own code when the harness put it there) is the handover set: moved out of reach after training
and put back before each score call, so nothing one call writes reaches the next, and nothing
of it is in the folder while another program (an attacker) runs there.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from recursor.harness import HarnessError, Overtime, ProgramHost, child_env, read_scores
from recursor.task.lm import checkpoint
from recursor.task.redteam.archive import templates
from recursor.task.redteam.records import Template

PROGRAM = "program"  # the candidate's own folder in the scratch folder


class Guard:
    """A guard program at `path`, run through `host` in `scratch`."""

    def __init__(self, host, scratch: str, path: str, handover_dir: str):
        self.host, self.scratch, self.path = host, scratch, path
        self.handover = checkpoint.CheckpointSet(scratch, handover_dir, keep=[PROGRAM])
        self.usages: list[dict] = []
        self.queries = 0

    def train(self, data: Mapping[str, list[str]], seconds: float) -> tuple[dict, float]:
        """Train on `data` (harmful, benign, templates); the usage report and wall seconds."""
        path = os.path.join(self.scratch, "train.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        t0 = time.time()
        usage = self.host.start([sys.executable, self.path, "train", "--data", path, "--model",
                                 os.path.join(self.scratch, "model")], seconds, "training").wait()
        if os.path.exists(path):
            os.remove(path)
        self.handover.take()
        if not any(name.startswith("model") for name in self.handover.files):
            raise HarnessError("training finished without leaving a model in its folder")
        return usage, time.time() - t0

    def score(self, prompts: Sequence[str], seconds: float, what: str) -> list[float]:
        """One score call: a fresh process with the model and `prompts` only."""
        self.handover.restore()
        inputs = os.path.join(self.scratch, "prompts.json")
        out = os.path.join(self.scratch, "scores.json")
        with open(inputs, "w", encoding="utf-8") as f:
            json.dump(list(prompts), f)
        argv = [sys.executable, self.path, "score", "--model",
                os.path.join(self.scratch, "model"), "--prompts", inputs, "--scores", out]
        try:
            self.usages.append(self.host.start(argv, max(1.0, seconds), what).wait())
        except Overtime as err:
            raise Overtime(f"{err}: budget.evaluation: all score calls together may take "
                           "the task's score_seconds") from None
        scores = read_scores(out, len(prompts))
        self.queries += len(prompts)
        self.clear()
        return scores

    def clear(self) -> None:
        """The scratch folder emptied of all but the candidate's own folder."""
        checkpoint.clear(Path(self.scratch), {PROGRAM})

    def discard(self) -> None:
        self.handover.discard()
        self.clear()


@contextlib.contextmanager
def sandboxed(config: Mapping[str, Any], guard_path: str) -> Iterator[tuple[Any, Guard]]:
    """One experiment's sandbox host (the program log, the task's threads and preload) and a
    `Guard` at `guard_path` run through it; its handover set and the scratch folder are
    emptied at the end, whatever happened."""
    scratch = config["scratch"]
    log_path = config.get("program_log") or os.path.join(scratch, "program.log")
    job_dir = os.path.dirname(os.path.abspath(config["metrics_file"]))
    with open(log_path, "ab") as log:
        env = child_env(scratch, config["limits"]["threads"])
        preload = config["settings"].get("preload", ())
        with ProgramHost(config.get("sandbox"), scratch, env, log, preload) as host:
            guard = Guard(host, scratch, guard_path, os.path.join(job_dir, "handover"))
            try:
                yield host, guard
            finally:
                guard.discard()


def archive_templates(folder: Path, names: Sequence[str]) -> list[Template]:
    """The templates of the attack archives `names` beside a harness at `folder` (hashed with
    it; recursor.task.redteam.archive); a bad archive fails the experiment, named."""
    try:
        return templates(folder, names)
    except ValueError as err:
        raise HarnessError(str(err)) from None


def total_usage(calls: Sequence[Mapping]) -> dict:
    """Usage reports of several calls as one: times and strays summed, memory at its peak."""
    out = {"cpu": 0.0, "wall": 0.0, "strays": 0, "max_rss_mb": 0.0, "calls": len(calls)}
    for c in calls:
        out["cpu"] += c.get("cpu") or 0.0
        out["wall"] += c.get("wall") or 0.0
        out["strays"] += c.get("strays") or 0
        out["max_rss_mb"] = max(out["max_rss_mb"], c.get("max_rss_mb") or 0.0)
    out["cpu"], out["wall"] = round(out["cpu"], 3), round(out["wall"], 3)
    return out
