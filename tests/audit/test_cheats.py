"""Every cheat fixture, run as a candidate in a real run of `tiny-lm`: each is rejected (or failed)
for the reason its fixture names; the honest changes beside them are not blocked.

The fixtures are real patches a reward-hacking researcher would write (tests/audit/cheats/*.patch)
and honest changes (tests/audit/honest/*.patch), judged layer by layer as `catalogue` says: the
static cheats and the honest changes in an ordinary run, the runtime cheats with the static
auditor off (the runtime rules must hold on their own), the weaker-sandbox cheats under it.
"""

from __future__ import annotations

from pathlib import Path

import catalogue
import pytest
from conftest import AUDITED

import recursor
from recursor.store import EvalStatus

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
CHEATS = catalogue.load(HERE / "cheats")
HONEST = catalogue.load(HERE / "honest", honest=True)


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> dict[str, dict]:
    fixtures = catalogue.runnable([*CHEATS, *HONEST])
    # no held-out runs: no fixture here expects the held-out gate (tests/loop/test_held_out_gate.py
    # shows it on its own), and every line of defence is to hold without it
    return catalogue.judge(fixtures, tmp_path_factory.mktemp("catalogue"), AUDITED, heldout=False)


def test_the_catalogue_covers_every_line_of_defence():
    kinds = {f.expect for f in CHEATS}
    assert len(CHEATS) >= 12
    assert {"causality", "fresh-data", "budget.threads", "budget.evaluation"} <= kinds
    assert len({k for k in kinds if k.startswith("static.")}) >= 8


@pytest.mark.parametrize("cheat", CHEATS, ids=lambda f: f.name)
def test_each_cheat_is_rejected_for_the_right_reason(verdicts, cheat):
    if cheat.name not in verdicts:
        pytest.skip(f"needs the {cheat.sandbox} sandbox, which does not run here")
    v = verdicts[cheat.name]
    ok, said = catalogue.caught(v, cheat.expect)
    assert ok, f"{cheat.name}: expected {cheat.expect}; got {said}"
    floors = catalogue.measured_floors(cheat)
    if floors:  # what the run recorded of its usage, not what the program claimed
        run = recursor.open_run(v["run_dir"])
        runs = [e for e in run.node(v["node"]).evaluations if e.status is EvalStatus.OK]
        assert runs
        for e in runs:
            for name, least in floors.items():
                assert e.metrics["metrics"][name] >= least, (cheat.name, name, e.metrics)
    if v["status"] == "rejected" and cheat.expect not in ("judge",):
        finding = next(f for f in v["audit"] if f["check"] == cheat.expect)
        assert finding["message"] and finding["evidence"]  # what a person needs to check it
        assert v["reasons"][0].startswith("auditor: ")


@pytest.mark.parametrize("honest", HONEST, ids=lambda f: f.name)
def test_honest_changes_are_not_blocked_by_the_auditor(verdicts, honest):
    ok, said = catalogue.caught(verdicts[honest.name], "honest")
    assert ok, f"{honest.name}: {said}"
