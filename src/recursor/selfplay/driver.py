"""`recursor selfplay`: rounds of a red-teaming family, each an ordinary recursor run.

Two families (recursor.selfplay.folders): the guard duel (`redteam-attack` against
`redteam-defend`'s guards) and the chat family (`redteam-chat-attack` against the defences of
SmolLM2-135M-Instruct that `redteam-chat-defend`'s programs fit). Round r:

1. **attack**: a run of the attack task against the defender of round r-1 (round 0's is the
   built-in baseline). The best accepted attacker's archive (its best seed's) is exported
   to `archives/archive-r.json`, with its sha256.
2. **defend**: a run of the defend task that starts from the defender of round r-1 and learns
   from every archive so far. Its best accepted program is the defender of round r
   (`defenders/defender-r.py`, with its sha256); in the chat family, the defence it fitted on
   its best seed too (`defenders/defence-r.json`), which the next attacker faces.
3. **measure**: the cross-play matrix (every defender so far against every archive so far,
   each archive's templates alone) and the held-out success of people's own jailbreaks of the
   new defender (and of the baseline, once), with an interval, at the harness's benign
   false-positive rate.

Everything is kept in the self-play folder, and `selfplay.json` says what is done: a killed
self-play resumes where it stopped (an unfinished run is resumed, a finished step is not run
again), and a changed archive or defender file is refused, not used.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import recursor
from recursor.errors import RecursorError
from recursor.selfplay.folders import DEFENCE, Family, attack_folder, defend_folder
from recursor.selfplay.folders import family as named_family
from recursor.selfplay.measure import crossplay, held_out
from recursor.store import NodeStatus, RunStore

STATE = "selfplay.json"
HELDOUT_ARCHIVE = "heldout_archive_success"  # the chat attack task's held-out evaluation


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class SelfPlay:
    """A self-play folder and what its rounds found (read back from `selfplay.json`)."""

    folder: Path
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def rounds(self) -> list[dict[str, Any]]:
        return self.state.get("rounds", [])

    def save(self) -> None:
        tmp = self.folder / f".{STATE}.tmp"
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(self.folder / STATE)

    def verified(self, path: str, sha256: str) -> Path:
        full = self.folder / path
        if not full.is_file() or _sha(full) != sha256:
            raise RecursorError(f"{full} is missing or changed since its round recorded it "
                                f"(sha256 {sha256[:12]}...): a self-play resumes only on the "
                                "files it made")
        return full


def open_selfplay(folder: Path | str) -> SelfPlay:
    folder = Path(folder)
    path = folder / STATE
    if not path.is_file():
        raise RecursorError(f"{folder} is not a self-play folder (no {STATE})")
    return SelfPlay(folder, json.loads(path.read_text()))


def selfplay(rounds: int, folder: Path | str, *, experiments: int = 8,
             attack_experiments: int | None = None, workers: int = 1, heldout_seeds: int = 2,
             overrides: dict[str, Any] | None = None, sandbox: str = "auto",
             family: str = "guard", say: Callable[[str], None] = lambda _: None) -> SelfPlay:
    """Run (or go on with) `rounds` rounds of a family (`guard` or `chat`) in `folder`; see the
    module's docstring. `experiments` is each defend run's budget (`attack_experiments` each
    attack run's, the same by default); `overrides` apply to both tasks (e.g. fewer seeds)."""
    of = named_family(family)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"experiments": experiments, "attack_experiments": attack_experiments or experiments,
                "workers": workers, "heldout_seeds": heldout_seeds, "overrides": overrides or {},
                "sandbox": sandbox, "family": of.name}
    play = open_selfplay(folder) if (folder / STATE).exists() else SelfPlay(folder, {})
    if "settings" in play.state:
        play.state["settings"].setdefault("family", "guard")  # folders from before the chat one
    if play.state.get("settings", settings) != settings:
        raise RecursorError(f"{folder} was started with other settings "
                            f"({play.state['settings']}); resume it with the same ones")
    play.state["settings"] = settings
    if "baseline" not in play.state:
        base = folder / "defenders" / "defender-0.py"
        base.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(of.defend / of.program, base)
        play.state["baseline"] = {"defender": str(base.relative_to(folder)), "sha256": _sha(base)}
        if of.faces_output:  # the defence the built-in attacker faces: the baseline's
            fitted = folder / "defenders" / "defence-0.json"
            shutil.copy(of.attack / DEFENCE, fitted)
            play.state["baseline"].update(defence=str(fitted.relative_to(folder)),
                                          defence_sha256=_sha(fitted))
        play.state.setdefault("rounds", [])
        play.save()
    for r in range(1, rounds + 1):
        _round(play, r, say)
    return play


def defender_of(play: SelfPlay, r: int) -> tuple[Path, list[Path]]:
    """The defender after round r (0: the baseline) and the archives it learnt from."""
    if r == 0:
        b = play.state["baseline"]
        return play.verified(b["defender"], b["sha256"]), []
    done = play.rounds[r - 1]
    return (play.verified(done["defender"], done["defender_sha256"]),
            [play.verified(a["archive"], a["archive_sha256"]) for a in play.rounds[:r]])


def faced(play: SelfPlay, r: int) -> Path:
    """What the attacker of round r+1 faces of the defender after round r: its program (the
    guard duel), or the defence that program fitted (the chat family)."""
    if not play_family(play).faces_output:
        return defender_of(play, r)[0]
    done = play.state["baseline"] if r == 0 else play.rounds[r - 1]
    return play.verified(done["defence"], done["defence_sha256"])


def play_family(play: SelfPlay) -> Family:
    return named_family(play.state["settings"].get("family", "guard"))


def _round(play: SelfPlay, r: int, say: Callable[[str], None]) -> None:
    if len(play.rounds) >= r and play.rounds[r - 1].get("measured"):
        return
    if len(play.rounds) < r:
        play.rounds.append({"round": r})
    entry, settings, of = play.rounds[r - 1], play.state["settings"], play_family(play)
    guard, archives = defender_of(play, r - 1)
    options = {"workers": settings["workers"], "overrides": settings["overrides"],
               "sandbox": settings["sandbox"], "discoveries": False}

    if "archive" not in entry:
        say(f"round {r}: attacking defender {r - 1}")
        run_dir = play.folder / f"round-{r}" / "attack"
        task = play.folder / "tasks" / f"attack-{r}"
        if not (run_dir / "run.db").exists():
            attack_folder(task, faced(play, r - 1), archives, of=of)
        _run_or_resume(task, run_dir, settings["attack_experiments"], options)
        best, value, cells, held = _best_archive(run_dir)
        path = play.folder / "archives" / f"archive-{r}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"cells": cells}, indent=1))
        entry.update(archive=str(path.relative_to(play.folder)), archive_sha256=_sha(path),
                     attack_run=str(run_dir.relative_to(play.folder)), attacker_node=best,
                     archive_success=value, coverage=len(cells) / _grid_size(),
                     archive_heldout=held)
        play.save()

    if "defender" not in entry:
        say(f"round {r}: training defender {r} on {r} archive(s)")
        run_dir = play.folder / f"round-{r}" / "defend"
        task = play.folder / "tasks" / f"defend-{r}"
        learnt = archives + [play.verified(entry["archive"], entry["archive_sha256"])]
        if not (run_dir / "run.db").exists():
            defend_folder(task, guard, learnt, of=of)
        _run_or_resume(task, run_dir, settings["experiments"], options)
        node, code, value, written = _best_defender(run_dir, of)
        path = play.folder / "defenders" / f"defender-{r}.py"
        path.write_text(code)
        if of.faces_output:
            fitted = play.folder / "defenders" / f"defence-{r}.json"
            fitted.write_text(json.dumps(written, indent=1))
            entry.update(defence=str(fitted.relative_to(play.folder)), defence_sha256=_sha(fitted))
        entry.update(defender=str(path.relative_to(play.folder)), defender_sha256=_sha(path),
                     defend_run=str(run_dir.relative_to(play.folder)), defender_node=node,
                     attack_success=value)
        play.save()

    say(f"round {r}: measuring cross-play and held-out jailbreaks")
    _measure(play, r)
    entry["measured"] = True
    play.save()


def _run_or_resume(task: Path, run_dir: Path, experiments: int, options: dict) -> None:
    if (run_dir / "run.db").exists():
        recursor.resume(run_dir)
    else:
        recursor.run(task, run_dir=run_dir, experiments=experiments, **options)


def _grid_size() -> int:
    from recursor.task.redteam.archive import cells

    return len(cells())


def _accepted(store: RunStore, metric: str, seeds, maximize: bool):
    nodes = [n for n in store.nodes() if n.status is NodeStatus.ACCEPTED]
    sign = 1 if maximize else -1

    def key(n):
        mean = n.mean(metric, seeds)
        return (-math.inf if mean is None else sign * mean, n.id)

    return max(nodes, key=key)


def _best_archive(run_dir: Path) -> tuple[int, float, list[dict], float | None]:
    """The best accepted attacker's node, its mean archive success, the archive of its best
    seed, and the mean success of its archives on held-out requests (None: not measured)."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        seeds = _seeds(store)
        best = _accepted(store, "archive_success", seeds, True)
        # the public evaluation's archives: a held-out evaluation's are scored on other requests
        evals = [e for e in best.evaluations if e.evaluation == "archive_success"
                 and e.metrics.get("archive") is not None]
        if not evals:
            raise RecursorError(f"{run_dir}: node {best.id} has no archive in its results")
        top = max(evals, key=lambda e: (e.value or 0.0, -e.seed))
        held = [e.value for e in best.evaluations
                if e.evaluation == HELDOUT_ARCHIVE and e.value is not None]
        return (best.id, best.mean("archive_success", seeds) or 0.0,
                top.metrics["archive"]["cells"], sum(held) / len(held) if held else None)
    finally:
        store.close()


def _best_defender(run_dir: Path, of: Family) -> tuple[int, str, float, dict | None]:
    """The best accepted defender's node, its program, its mean attack success, and (the chat
    family) the defence it fitted on its best seed: what the next attacker faces."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        seeds = _seeds(store)
        best = _accepted(store, "attack_success", seeds, False)
        written = None
        if of.faces_output:
            evals = [e for e in best.evaluations if e.evaluation == "attack_success"
                     and e.metrics.get("defence_file") is not None]
            if not evals:
                raise RecursorError(f"{run_dir}: node {best.id} has no fitted defence in its "
                                    "results")
            written = min(evals, key=lambda e: (e.value if e.value is not None else math.inf,
                                                e.seed)).metrics["defence_file"]
        return (best.id, store.files(best)[of.program],
                best.mean("attack_success", seeds) or 0.0, written)
    finally:
        store.close()


def _seeds(store: RunStore) -> list[int]:
    from recursor.loop.snapshot import run_task_snapshot

    return list(run_task_snapshot(store).spec.seeds.values)


def _measure(play: SelfPlay, r: int) -> None:
    settings = play.state["settings"]
    kw = {"overrides": settings["overrides"], "sandbox": settings["sandbox"],
          "of": play_family(play)}
    matrix = play.state.setdefault("crossplay", {})
    for d in range(0, r + 1):
        guard, learnt = defender_of(play, d)
        for a in range(1, r + 1):
            key = f"{d}/{a}"
            if key in matrix:
                continue
            archive = play.verified(play.rounds[a - 1]["archive"],
                                    play.rounds[a - 1]["archive_sha256"])
            matrix[key] = crossplay(guard, learnt, archive,
                                            play.folder / "measure" / f"cross-{d}-{a}", **kw)
            play.save()
    held = play.state.setdefault("heldout", {})
    seeds = list(range(1, settings["heldout_seeds"] + 1))
    for d in (0, r):
        if str(d) in held:
            continue
        guard, learnt = defender_of(play, d)
        h = held_out(guard, learnt, play.folder / "measure" / f"heldout-{d}",
                             seeds=seeds, **kw)
        held[str(d)] = {"success": h.success, "ci95": list(h.ci95), "benign_fpr": h.benign_fpr,
                        "fpr": h.fpr, "seeds": h.seeds, "matched": h.matched,
                        "matched_ci95": list(h.matched_ci95) if h.matched_ci95 else None}
        play.save()
