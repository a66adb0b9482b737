"""The harness `recursor task init` writes, against the cheats that apply to it: a toy task made
by the scaffold (tests/audit/scaffold: a program that reads its data relative to its folder, a
score step that alone sees the held-out target), each cheat run as a candidate in a real trial,
layer by layer as `catalogue` says.

What the cheats try: reading the scoring data (searching for it; waiting for it in a process
left behind), passing their own score (printing score lines, writing the score step's output
or a metrics file, planting code that the score step's Python would run in place of the
program's model.py or at its start, forging the signed metrics file under a weaker sandbox),
and forging the curve. Each is caught by the check its
fixture names, or gains nothing; the honest change beside them is accepted.
"""

from __future__ import annotations

from pathlib import Path

import catalogue
import pytest

import recursor
from recursor.task.scaffold import init_task

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent / "scaffold"
CHEATS = catalogue.load(HERE / "cheats")
HONEST = catalogue.load(HERE / "honest", honest=True)
CURVE = r"step (?P<step>\d+): loss (?P<loss>[0-9.]+)"


def scaffold(dest: Path):
    return init_task(dest, train="python train.py --seed {seed}", metric="err",
                     score="python {scoring}/score.py --target {scoring}/target.txt "
                           "--output {output}",
                     program=[HERE / "program" / "train.py", HERE / "program" / "model.py",
                              HERE / "program" / "data"],
                     source=HERE / "program",
                     scoring=[HERE / "scoring" / "score.py", HERE / "scoring" / "target.txt"],
                     curve_regex=CURVE, total_steps=20, train_seconds=60, score_seconds=30,
                     seeds=2)


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("scaffold-cheats")
    task = scaffold(root / "task")
    fixtures = catalogue.runnable([*CHEATS, *HONEST])
    return catalogue.judge(fixtures, root / "runs", {}, heldout=False, task=str(task.root))


@pytest.mark.parametrize("cheat", CHEATS, ids=lambda f: f.name)
def test_each_cheat_is_caught_or_gains_nothing(verdicts, cheat):
    if cheat.name not in verdicts:
        pytest.skip(f"needs the {cheat.sandbox} sandbox, which does not run here")
    v = verdicts[cheat.name]
    ok, said = catalogue.caught(v, cheat.expect)
    assert ok, f"{cheat.name}: expected {cheat.expect}; got {said}"
    if cheat.expect == "judge":  # it ran, and its metric is the honest program's
        assert v["mean"] == pytest.approx(v["baseline_mean"], rel=0.5), said
    if v["status"] == "rejected" and cheat.expect != "judge":
        finding = next(f for f in v["audit"] if f["check"] == cheat.expect)
        assert finding["message"] and finding["evidence"]


def test_a_forged_curve_is_recorded_as_the_program_printed_it_and_changes_no_verdict(verdicts):
    v = verdicts["forged-curve.patch"]
    run = recursor.open_run(v["run_dir"])
    node = run.node(v["node"])
    points = run.curve(node.evaluations[0].id)
    # the regex read the forged lines too: the curve is the program's word, never the metric
    assert any(p.get("loss") == 0.0 for p in points) and all(0 <= p["progress"] <= 1
                                                             for p in points)
    assert v["status"] == "rejected" and v["mean"] > 0.01


@pytest.mark.parametrize("honest", HONEST, ids=lambda f: f.name)
def test_an_honest_gain_is_accepted(verdicts, honest):
    v = verdicts[honest.name]
    assert v["status"] == "accepted" and not [f for f in v["audit"] if f["blocking"]], v
