"""Checks on the evidence of a decided comparison: do the numbers hold beyond the scored seeds
and the scored windows?

The harness reports what it measured on each run (the public metric, the same metric on fresh
windows of the held-back text); these checks compare a candidate with its parent across runs:

- seed-consistency: a candidate that beat its parent on the screening seed must also be better
  on most of the other seeds both ran. A result that holds for one seed is not a result.
- fresh-data: the gain on the scored windows must mostly survive on fresh windows of the same
  held-back text. A model tuned to the scored windows (memorised them, or keyed on them) wins
  on those and nowhere else.
- held-out.<name>: the gain on the public metric against the gain on a held-out corpus the
  search never saw; losing there is flagged (a warning: the public gain was real, but it did not
  generalise), and reports show both gains side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

from recursor.judge import Judge
from recursor.store.records import Finding, Node

FRESH_KEEP = 0.5  # the fresh gain must be at least this share of the public gain...
FRESH_SLACK = 0.003  # ...unless they differ by less than this share of the parent's metric


SCREEN_SIGMAS = 3.0  # a screen win this many noise sigmas large is not luck


def seed_consistency(node: Node, parent: Node, judge: Judge,
                     sigma: float | None = None) -> list[Finding]:
    """Blocking when the screen win is not repeated on at least half of the other seeds. With
    the run's paired noise `sigma`, only a screen win beyond SCREEN_SIGMAS of it counts: a
    change that does nothing wins its screen by luck half the time and then loses elsewhere,
    which is the judge's to reject, not a sign of a seed-specific trick."""
    mine, theirs = node.values(judge.metric), parent.values(judge.metric)
    screen = judge.seeds[0]
    if screen not in mine or judge.improvement(theirs[screen], mine[screen]) <= 0:
        return []
    if sigma and judge.improvement(theirs[screen], mine[screen]) <= SCREEN_SIGMAS * sigma:
        return []
    others = sorted(s for s in mine if s in theirs and s != screen)
    if len(others) < 2:
        return []
    gains = {s: judge.improvement(theirs[s], mine[s]) for s in others}
    better = sum(g > 0 for g in gains.values())
    if better * 2 >= len(others):
        return []
    shown = ", ".join(f"{s}: {g:+.4g}" for s, g in gains.items())
    return [Finding(
        "seed-consistency", True,
        f"better than node {parent.id} on the screening seed but on only {better} of "
        f"{len(others)} other seeds: the gain does not hold across seeds",
        f"paired gains in {judge.metric} by seed: {shown}", node.id)]


def fresh_data(node: Node, parent: Node, judge: Judge, seeds: Sequence[int]) -> list[Finding]:
    """Blocking when the public gain mostly vanishes on fresh windows of the same text."""
    pairs = []
    for s in seeds:
        a, b = _fresh_and_public(node, judge.metric, s), _fresh_and_public(parent, judge.metric, s)
        if a and b:
            pairs.append((judge.improvement(b[0], a[0]), judge.improvement(b[1], a[1])))
    if not pairs:
        return []
    public = sum(p for p, _ in pairs) / len(pairs)
    fresh = sum(f for _, f in pairs) / len(pairs)
    scale = abs(parent.mean(judge.metric, judge.seeds) or 1.0)
    if public <= 0 or fresh >= FRESH_KEEP * public or public - fresh < FRESH_SLACK * scale:
        return []
    return [Finding(
        "fresh-data", True,
        f"the gain on the scored windows ({public:+.4g}) mostly vanishes on fresh windows of "
        f"the same held-back text ({fresh:+.4g}): tuned to the test windows, not learned",
        f"mean paired gain over {len(pairs)} seeds: scored {public:+.5f}, fresh {fresh:+.5f}; "
        f"required fresh >= {FRESH_KEEP:g} x scored", node.id)]


def _fresh_and_public(node: Node, metric: str, seed: int) -> tuple[float, float] | None:
    for e in node.evaluations:
        if e.evaluation == metric and e.seed == seed and e.value is not None:
            fresh = (e.metrics.get("audit") or {}).get("fresh")
            if isinstance(fresh, (int, float)):
                return e.value, float(fresh)
    return None


def held_out(node: Node, parent: Node, judge: Judge, name: str,
             seeds: Sequence[int]) -> list[Finding]:
    """A warning when a node that won in public is worse than its parent on held-out data."""
    mine, theirs = node.values(name, seeds), parent.values(name, seeds)
    common = [s for s in seeds if s in mine and s in theirs]
    if not common:
        return []
    gain = sum(judge.improvement(theirs[s], mine[s]) for s in common) / len(common)
    if gain >= 0:
        return []
    return [Finding(
        f"held-out.{name}", False,
        f"better than node {parent.id} on {judge.metric} but worse on the held-out {name} "
        f"({gain:+.4g}): the gain did not generalise",
        f"held-out paired gain over seeds {common}: {gain:+.5f}", node.id)]


def held_out_due(node: Node, parent: Node, judge: Judge,
                 evaluations: Sequence[tuple[str, Sequence[int]]]) -> list[Finding]:
    """`held_out` for each (evaluation, seeds) whose runs are all in and that has no finding on
    the node yet: what the loop checks each time a held-out run of the node finishes."""
    found: list[Finding] = []
    for name, seeds in evaluations:
        if len(node.values(name, seeds)) < len(seeds):
            continue
        if any(f.check == f"held-out.{name}" for f in node.findings):
            continue
        found += held_out(node, parent, judge, name, seeds)
    return found
