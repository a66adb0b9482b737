"""Every cheat fixture, run as a candidate in one real run of `tiny-lm`: each is rejected, and
for the reason its fixture names; the honest changes beside them are not.

The fixtures are real patches a reward-hacking researcher would write (tests/audit/cheats/*.patch,
first line `# expect: <check>`). Static cheats never run; the dynamic ones run in the sandbox
and are caught by the harness's audits or by the checks across seeds and windows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SMALL

import recursor

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
CHEATS = sorted((HERE / "cheats").glob("*.patch"))
HONEST = sorted((HERE / "honest").glob("*.patch"))


def expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: CHECK'"
    return first.removeprefix("# expect: ").strip()


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cheats") / "run"
    results = recursor.try_patches("tiny-lm", [*CHEATS, *HONEST], run_dir=run_dir, workers=2,
                                   overrides=SMALL, heldout=False)
    return dict(zip([p.name for p in [*CHEATS, *HONEST]], results, strict=True))


def test_there_are_at_least_twelve_cheats_of_both_kinds():
    kinds = {expected(p) for p in CHEATS}
    assert len(CHEATS) >= 12
    assert {"causality", "fresh-data", "budget.threads", "budget.evaluation"} <= kinds
    assert len({k for k in kinds if k.startswith("static.")}) >= 8


@pytest.mark.parametrize("cheat", [p.name for p in CHEATS])
def test_each_cheat_is_rejected_for_the_right_reason(verdicts, cheat):
    v = verdicts[cheat]
    want = expected(HERE / "cheats" / cheat)
    checks = {f["check"] for f in v["audit"] if f["blocking"]}
    assert v["status"] == "rejected", f"{cheat}: {v['status']}: {v['reasons']}"
    assert want in checks, f"{cheat}: expected {want}, found {sorted(checks)}: {v['reasons']}"
    finding = next(f for f in v["audit"] if f["check"] == want)
    assert finding["message"] and finding["evidence"]  # what a person needs to check it
    assert v["reasons"][0].startswith("auditor: ")


@pytest.mark.parametrize("honest", [p.name for p in HONEST])
def test_honest_changes_are_not_blocked_by_the_auditor(verdicts, honest):
    v = verdicts[honest]
    assert v["status"] in ("accepted", "rejected"), v["reasons"]
    assert not [f for f in v["audit"] if f["blocking"]], v["audit"]
