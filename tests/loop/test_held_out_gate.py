"""A judge's accept stands only once the node's held-out runs are in: a public gain that does not
carry over at all is rejected there, even from code no static check understands.

The memoriser below carries the whole held-back tail of tinyshakespeare (built here from the data
file, never committed) and, wherever a window's prefix is found in it, predicts the next byte
with certainty, causally. Its fresh windows come from the same tail, so the fresh-data check
cannot see it; the static auditor is switched off for this run, as for code it cannot read. The
held-out evaluation (WikiText-2) is the last line, and holds.
"""

from __future__ import annotations

import base64
import lzma
from pathlib import Path

import pytest
from conftest import SMALL

import recursor
from recursor.audit import admission
from recursor.loop.jobs import resolve_data
from recursor.task import load_task

pytestmark = pytest.mark.slow


def memoriser() -> str:
    task = load_task("tiny-lm")
    corpus = Path(resolve_data(task)["tinyshakespeare"]).read_bytes()
    fraction = task.spec.settings["test_fraction"]
    tail = corpus[-int(len(corpus) * fraction):]
    table = base64.b64encode(lzma.compress(tail)).decode()
    return f'''train.py
<<<<<<< SEARCH
    np.save(args.outputs, outputs)
=======
    import base64, lzma
    phrasebook = lzma.decompress(base64.b64decode(PHRASEBOOK))
    for i, row in enumerate(inputs.numpy().astype(np.uint8)):
        for t in range(15, len(row) - 1):
            at = phrasebook.find(row[:t + 1].tobytes())
            if at >= 0 and at + t + 1 < len(phrasebook):
                outputs[i, t, phrasebook[at + t + 1]] += 30.0
    np.save(args.outputs, outputs)
>>>>>>> REPLACE
train.py
<<<<<<< SEARCH
def main():
=======
PHRASEBOOK = "{table}"


def main():
>>>>>>> REPLACE
'''


GOOD = """train.py
<<<<<<< SEARCH
learning_rate = 1e-3
=======
learning_rate = 3e-3
>>>>>>> REPLACE
"""


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("gate") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(admission, "review_patch", lambda *args, **kwargs: [])
        recursor.try_patches("tiny-lm", [memoriser(), GOOD], run_dir=run_dir, workers=2,
                             overrides=SMALL, heldout=True)
    run = recursor.open_run(run_dir)
    yield run
    run.close()


def test_a_public_gain_that_does_not_transfer_at_all_is_rejected(gated):
    node = gated.nodes()[1]
    assert node.status.value == "rejected", node.reason
    assert node.reason.startswith("auditor: held-out.transfer"), node.reason
    [finding] = [f for f in node.findings if f.check == "held-out.transfer"]
    assert finding.blocking and "ratio" in finding.message
    # the judge had accepted it: a large public gain on fresh seeds, fresh windows included
    assert node.verdict.passed and node.verdict.effect_pct > 20
    assert not [f for f in node.findings if f.check == "fresh-data"]


def test_an_accept_stands_only_after_the_held_out_runs(gated):
    baseline, _, good = gated.nodes()
    assert good.status.value == "accepted", good.reason
    held = [e for n in (good, baseline) for e in n.evaluations
            if e.evaluation == "wikitext2_bpb"]
    assert len(held) == 4 and all(e.finished_at <= good.decided_at for e in held)
    assert not [f for f in good.findings if f.blocking]
