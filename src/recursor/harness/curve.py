"""The partial curve: points the program reports while it runs, from a progress pipe (JSON
lines) or from its output by a regex, written into the metrics file as `{"type": "curve"}`.

Everything here comes from the program, which may lie. A curve only feeds the value function,
which may stop a candidate early; it is never the metric, and no verdict reads it. So the worst
a forged curve does is keep a doomed candidate running to its end. What passes is still
bounded: numbers only (finite), names that look like names, progress within [0, 1], and at most
`MAX_POINTS` points per run, so that a program cannot flood the metrics file.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from recursor.harness.results import Metrics

MAX_POINTS = 10_000  # per Curve: far more than a value function needs, far less than a flood
MAX_FIELDS = 32  # per point
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")
RESERVED = ("type", "token")  # the metrics file's own keys


def json_lines(fd: int) -> Iterator[dict]:
    """The JSON objects written one per line on a pipe by the program, until it closes (lines
    that are not a JSON object are skipped: the program's side of the pipe is untrusted)."""
    with os.fdopen(fd, "r", errors="replace") as pipe:
        for line in pipe:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


class Curve:
    """Writes the program's curve points into the metrics file, checked as the module says.

    `progress_of=("step", 5000)`: each point's `progress` is its `step` / 5000 (the value
    function compares a candidate with its parent at equal progress; without `progress` in the
    points it cannot stop anything early). Otherwise a point's own `progress` is kept, clamped.
    """

    def __init__(self, metrics: Metrics, progress_of: tuple[str, float] | None = None,
                 limit: int = MAX_POINTS):
        self.metrics, self.progress_of, self.limit = metrics, progress_of, limit
        self.points = 0

    def add(self, point: Mapping[str, Any]) -> bool:
        """Write one point; False when nothing of it passed or the run's points are spent."""
        if self.points >= self.limit:
            return False
        numbers: dict[str, float] = {}
        for key, value in point.items():
            number = _number(value)
            if (number is not None and isinstance(key, str) and NAME.match(key)
                    and key not in RESERVED and len(numbers) < MAX_FIELDS):
                numbers[key] = number
        if self.progress_of is not None:
            key, total = self.progress_of
            numbers.pop("progress", None)
            if key in numbers and total > 0:
                numbers["progress"] = numbers[key] / total
        if "progress" in numbers:
            numbers["progress"] = min(1.0, max(0.0, numbers["progress"]))
        if not numbers:
            return False
        self.metrics.write(type="curve", **numbers)
        self.points += 1
        return True

    def follow_pipe(self, fd: int) -> None:
        """Every JSON line the program writes on the pipe `fd`, as points, until it closes."""
        for point in json_lines(fd):
            self.add(point)


def curve_pattern(text: str, name: str = "loss") -> tuple[re.Pattern, tuple[str, ...]]:
    """A curve regex and the names of the quantities it captures: its named groups, or `name`
    for its one unnamed group. Raises ValueError saying what is wrong with it."""
    try:
        pattern = re.compile(text)
    except re.error as err:
        raise ValueError(f"the regex {text!r} does not compile: {err}") from None
    if pattern.groupindex:
        return pattern, tuple(pattern.groupindex)
    if pattern.groups == 0:
        raise ValueError(f"the regex {text!r} captures nothing: put the number in a group, "
                         r"e.g. 'loss ([0-9.]+)' or 'iter (?P<step>\d+): loss (?P<loss>[0-9.]+)'")
    if pattern.groups > 1:
        raise ValueError(f"the regex {text!r} has {pattern.groups} unnamed groups: name them, "
                         r"e.g. 'iter (?P<step>\d+): loss (?P<loss>[0-9.]+)'")
    return pattern, (name,)


class RegexCurve:
    """A line reader for `run_program(on_line=...)`: each line of the program's output that
    the regex finds is a curve point of its groups' numbers.

    The program prints what it likes: a line it prints that matches is a point, true or not
    (see the module's docstring for why that is safe)."""

    def __init__(self, curve: Curve, regex: str, name: str = "loss"):
        self.curve = curve
        self.pattern, self.names = curve_pattern(regex, name)

    def __call__(self, line: str) -> None:
        match = self.pattern.search(line)
        if match is None:
            return
        if self.pattern.groupindex:
            point = {k: v for k, v in match.groupdict().items() if v is not None}
        else:
            point = {self.names[0]: match.group(1)}
        self.curve.add(point)
