"""What a harness hands back: the metrics file (curve points, then one result or one error),
the findings of its own audits, and the entry point that reads the config and writes the end."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

from recursor.harness.errors import HarnessError


class Metrics:
    """The metrics file: one JSON object per line, written only by the harness, each signed
    with the job's token (`RECURSOR_SIGNATURE`, in the harness's environment only) when recursor
    gave one, so that a line the program wrote there (under a weaker sandbox) is told apart."""

    def __init__(self, path: str, token: str | None = None):
        self.path = path
        self.token = token if token is not None else os.environ.get("RECURSOR_SIGNATURE")
        self._lock = threading.Lock()

    def write(self, **record: Any) -> None:
        if self.token:
            record["token"] = self.token
        with self._lock, open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def finding(check: str, message: str, evidence: str = "", blocking: bool = True) -> dict:
    """One audit finding for the result's `findings`: a blocking one rejects the candidate."""
    return {"check": check, "blocking": blocking, "message": message, "evidence": evidence}


def load_config(path: str | None = None) -> dict[str, Any]:
    """The experiment's config: the JSON file `RECURSOR_CONFIG` names (docs/harness.md has its
    schema, `recursor.harness.CONFIG_SCHEMA`)."""
    with open(path or os.environ["RECURSOR_CONFIG"]) as f:
        return json.load(f)


def harness_main(run: Callable[[dict, Metrics], dict]) -> int:
    """A harness's entry point: read `RECURSOR_CONFIG`, call `run(config, metrics)`, write its
    result, or the candidate's failure (a HarnessError) as the experiment's reason. Either way
    the harness did its job: exit 0 (a crash of the harness itself exits non-zero, and recursor
    quotes its last exception line)."""
    config = load_config()
    metrics = Metrics(config["metrics_file"])
    try:
        result = run(config, metrics)
    except HarnessError as err:
        metrics.write(type="error", reason=str(err))
        return 0
    metrics.write(type="result", **result)
    return 0
