"""`recursor selfplay`: a round of the guard duel, killed half-way and gone on with, and the
files it made checked on the way: a real attacker run, a real defender run and the
measurements, on a small budget."""

from __future__ import annotations

import json

import pytest

from recursor.errors import RecursorError
from recursor.selfplay import driver, open_selfplay, selfplay
from recursor.selfplay.report import render

pytestmark = pytest.mark.slow

SMALL = {"seeds.values": [1, 2], "seeds.noise": 0}


def test_a_round_killed_after_its_attack_goes_on_without_running_it_again(tmp_path, monkeypatch):
    folder = tmp_path / "duel"
    real_best_defender = driver._best_defender

    def killed(run_dir, of):
        raise KeyboardInterrupt  # the defender's run finished, then the process was killed

    monkeypatch.setattr(driver, "_best_defender", killed)
    with pytest.raises(KeyboardInterrupt):
        selfplay(1, folder, experiments=1, heldout_seeds=1, overrides=SMALL)
    state = json.loads((folder / "selfplay.json").read_text())
    (entry,) = state["rounds"]
    assert "archive" in entry and "defender" not in entry
    archive = folder / entry["archive"]
    cells = json.loads(archive.read_text())["cells"]
    assert cells and all(c["template"].count("{behaviour}") == 1 for c in cells)
    attack_db = (folder / entry["attack_run"] / "run.db").stat().st_mtime_ns

    monkeypatch.setattr(driver, "_best_defender", real_best_defender)
    play = selfplay(1, folder, experiments=1, heldout_seeds=1, overrides=SMALL)
    (entry,) = play.rounds
    assert (folder / entry["attack_run"] / "run.db").stat().st_mtime_ns == attack_db
    assert entry["measured"] and (folder / entry["defender"]).is_file()
    assert set(play.state["crossplay"]) == {"0/1", "1/1"}
    for d in ("0", "1"):
        held = play.state["heldout"][d]
        assert held["ci95"][0] <= held["success"] <= held["ci95"][1] and held["fpr"] == 0.05
    text = render(play)
    assert text is not None

    # a finished round is not run again; a changed archive is refused, not used
    again = selfplay(1, folder, experiments=1, heldout_seeds=1, overrides=SMALL)
    assert again.state == open_selfplay(folder).state
    archive.write_text(archive.read_text().replace("{behaviour}", "{behaviour} please", 1))
    with pytest.raises(RecursorError, match="changed since its round recorded it"):
        selfplay(2, folder, experiments=1, heldout_seeds=1, overrides=SMALL)
    with pytest.raises(RecursorError, match="other settings"):
        selfplay(1, folder, experiments=3, heldout_seeds=1, overrides=SMALL)
