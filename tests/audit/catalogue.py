"""A catalogue of fixture patches against `tiny-lm`, judged layer by layer: shared by the cheat
tests (tests/audit/test_cheats.py) and the verdicts bench (bench/verdicts.py), and usable on a
catalogue kept anywhere (`load` a folder, then `judge` it).

A fixture is a patch (SEARCH/REPLACE blocks or a unified diff) headed by `# key: value` lines:
`# expect: CHECK` (required), `# class: N`, `# sandbox: KIND`, `# why: ...`, and `# measured:
NAME>=VALUE ...`: secondary metrics the run must record at least that value of on every run of
the fixture, whatever the program claimed of them (`measured_floors`). An expectation is

- a check's name: a blocking finding of that check, or the experiment failed with the check
  named in its reason (a predict call past its cap fails as budget.evaluation);
- `fail:<words>`: the experiment failed with the words in its reason (dashes for spaces);
- `judge`: the cheat found nothing to exploit and was rejected as not better;
- `honest`: an honest change: no blocking finding, and it ran.

Fixtures are judged in separate runs so that each line of defence shows it holds on its own:
static expectations (and honest changes) in an ordinary run; every other cheat with the static
auditor switched off, as for code it cannot read; cheats that name a weaker sandbox under it,
static auditor off too.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import recursor
from recursor.audit import admission
from recursor.executor.sandbox import detect

HEADER = re.compile(r"#\s*([a-z]+):\s*(.*)")
JUDGE_REASONS = ("screen:", "not proven better")


@dataclass(frozen=True)
class Fixture:
    path: Path
    expect: str
    klass: str = ""
    sandbox: str = ""
    why: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def layer(self) -> str:
        if self.expect == "honest" or self.expect.startswith("static."):
            return "static"
        return "weak" if self.sandbox else "runtime"


def read(path: Path, expect: str | None = None) -> Fixture:
    """The fixture at `path`; `expect` when its header names none (honest changes)."""
    head: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = HEADER.match(line)
        if not match:
            break
        head[match.group(1)] = match.group(2).strip()
    expect = head.pop("expect", expect)
    if expect is None:
        raise ValueError(f"{path.name}: its first lines must hold '# expect: CHECK'")
    return Fixture(path, expect, head.pop("class", ""), head.pop("sandbox", ""),
                   head.pop("why", ""), head)


def measured_floors(fixture: Fixture) -> dict[str, float]:
    """`# measured: name>=value ...` of a fixture, as {name: value}."""
    out = {}
    for term in fixture.extra.get("measured", "").split():
        name, sep, value = term.partition(">=")
        if not sep:
            raise ValueError(f"{fixture.name}: write '# measured: NAME>=VALUE', not {term!r}")
        out[name] = float(value)
    return out


def load(folder: Path, honest: bool = False) -> list[Fixture]:
    """The fixtures of `folder`; with `honest`, every one is an honest change."""
    out = [read(p, "honest" if honest else None) for p in sorted(Path(folder).glob("*.patch"))]
    bad = [f.name for f in out if honest and f.expect != "honest"]
    if bad:
        raise ValueError(f"honest changes that expect a check: {', '.join(bad)}")
    return out


def runnable(fixtures: list[Fixture]) -> list[Fixture]:
    """The fixtures whose sandbox this machine can give (a weaker one may be missing)."""
    def here(kind: str) -> bool:
        try:
            detect(kind)
        except Exception:  # noqa: BLE001 - a sandbox this machine cannot give
            return False
        return True

    return [f for f in fixtures if not f.sandbox or here(f.sandbox)]


def judge(fixtures: list[Fixture], root: Path, overrides: dict[str, Any], *,
          workers: int = 2, heldout: bool = True, task: str = "tiny-lm",
          extra: list[str] = ()) -> dict[str, dict]:
    """name -> verdict of every fixture (with the `run_dir` it was judged in); `extra` patches
    (texts) join the ordinary run, under the keys `extra-0`, `extra-1`, ... (the bench's null
    candidates and ideas)."""
    out: dict[str, dict] = {}
    runs = [("static", [f for f in fixtures if f.layer == "static"], True, "auto")]
    runs.append(("runtime", [f for f in fixtures if f.layer == "runtime"], False, "auto"))
    for kind in sorted({f.sandbox for f in fixtures if f.layer == "weak"}):
        runs.append((f"weak-{kind}", [f for f in fixtures
                                      if f.layer == "weak" and f.sandbox == kind], False, kind))
    for name, group, static, sandbox in runs:
        texts = [f.path for f in group] + (list(extra) if name == "static" else [])
        if not texts:
            continue
        run_dir = Path(root) / name
        # without the static auditor: the runtime lines of defence alone
        off = mock.patch.object(admission, "review_patch", lambda *args, **kwargs: [])
        with off if not static else contextlib.nullcontext():
            results = recursor.try_patches(task, texts, run_dir=run_dir, workers=workers,
                                           overrides=overrides, heldout=heldout,
                                           sandbox=sandbox)
        keys = [f.name for f in group] + [f"extra-{i}" for i in range(len(texts) - len(group))]
        out |= {k: {**v, "run_dir": str(run_dir)} for k, v in zip(keys, results, strict=True)}
    return out


def caught(verdict: dict, expect: str) -> tuple[bool, str]:
    """Whether `verdict` meets `expect`, and what it was, in words."""
    blocking = {f["check"] for f in verdict["audit"] if f["blocking"]}
    reasons = " | ".join(verdict["reasons"])
    said = f"{verdict['status']}: blocking {sorted(blocking)}: {reasons}"
    status = verdict["status"]
    if expect == "honest":
        return status in ("accepted", "rejected") and not blocking, said
    if expect == "judge":
        return status == "rejected" and not blocking and reasons.startswith(JUDGE_REASONS), said
    if expect.startswith("fail:"):
        words = expect.removeprefix("fail:").replace("-", " ")
        return status == "failed" and words in reasons, said
    if status == "failed":
        return expect in reasons, said
    return status == "rejected" and expect in blocking, said
