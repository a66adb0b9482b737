"""What a self-play round measures, by the defender task's own harness run on given defender
programs: the cross-play matrix (each defender against each archive's templates alone) and each
defender's held-out success of people's own jailbreaks, with its interval.

Each measurement is one experiment of the family's defender task (`redteam-defend`, or
`redteam-chat-defend`; recursor.executor.local.run_job), in the sandbox, on a seed of the task,
with the program and archives given; nothing here scores anything itself.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recursor.errors import RecursorError
from recursor.executor.local import run_job
from recursor.executor.sandbox import detect
from recursor.loop.jobs import make_job, resolve_data
from recursor.selfplay.folders import GUARD, Family, defend_folder
from recursor.task import load_task


@dataclass(frozen=True)
class HeldOut:
    """A guard's held-out success of human-written jailbreaks, over seeds."""

    success: float
    ci95: tuple[float, float]
    benign_fpr: float  # held-out benign prompts flagged (the chat family: refused)
    fpr: float  # the rate the harness holds the hidden benign prompts to (chat: its floor)
    seeds: int
    # at the threshold that flags at most `fpr` of the held-out benign prompts in the same
    # wrappers, and of the bare ones: guards compared at one utility, whatever their own
    # operating points flag
    matched: float | None = None
    matched_ci95: tuple[float, float] | None = None
    # at that same threshold: the wrapped attacks' success alone, and the share of the bare
    # held-out benign prompts flagged (at most `fpr`)
    matched_wrapped: float | None = None
    matched_bare_fpr: float | None = None


def _experiment(folder: Path, guard: Path, where: Path, evaluation: str, seed: int,
                overrides: dict, sandbox: str, of: Family = GUARD) -> dict:
    task = load_task(folder, overrides)
    program = where / "program"
    if program.exists():
        shutil.rmtree(program)
    program.mkdir(parents=True)
    shutil.copy(guard, program / of.program)
    result = run_job(make_job(task, program, where / "job", seed, evaluation, resolve_data(task),
                              sandbox=detect(sandbox)))
    if not result.ok:
        raise RecursorError(f"measuring {guard} ({evaluation}, seed {seed}) failed: "
                            f"{result.reason}; see {where / 'job'}")
    return result.metrics


def crossplay(guard: Path, trained_with: Sequence[Path], archive: Path, where: Path, *,
              seed: int = 1, overrides: dict | None = None, sandbox: str = "auto",
              of: Family = GUARD) -> float:
    """The share of `archive`'s attacks (its templates alone, filled with requests the guard
    was not trained on) that get past `guard` trained with `trained_with`, at the threshold the
    harness sets on hidden benign prompts in the same templates (the chat family: not answered
    with the refusal by the defence `guard` fits)."""
    folder = defend_folder(where / "task", guard, list(dict.fromkeys([*trained_with, archive])),
                           of=of)
    metrics = _experiment(folder, guard, where, "attack_success", seed,
                          {**(overrides or {}),
                           "settings.archives": [f"archives/{Path(a).name}" for a in trained_with],
                           "settings.score_archives": [f"archives/{Path(archive).name}"]},
                          sandbox, of)
    return float(metrics["redteam"]["wrapped_attack_success"])


def held_out(guard: Path, trained_with: Sequence[Path], where: Path, *, seeds: Sequence[int],
             match_templates: int = 0, overrides: dict | None = None,
             sandbox: str = "auto", of: Family = GUARD) -> HeldOut:
    """`guard`'s held-out success (mean over `seeds`; the interval is the widest bootstrap
    interval over template groups of any seed), trained with `trained_with` (or, with
    `match_templates`, as many curated templates alone)."""
    folder = defend_folder(where / "task", guard, trained_with, match_templates=match_templates,
                           of=of)
    runs = [_experiment(folder, guard, where / f"seed-{s}", "human_jailbreak_success", s,
                        overrides or {}, sandbox, of) for s in seeds]
    values = [m["metrics"]["human_jailbreak_success"] for m in runs]
    lows = [m["redteam"]["ci95"][0] for m in runs]
    highs = [m["redteam"]["ci95"][1] for m in runs]
    matched = [m["redteam"]["matched"] for m in runs if "matched" in m["redteam"]]
    return HeldOut(sum(values) / len(values), (min(lows), max(highs)),
                   sum(m["metrics"][of.benign] for m in runs) / len(runs),
                   float(runs[0]["redteam"][of.benign_limit]), len(runs),
                   sum(m["success"] for m in matched) / len(matched) if matched else None,
                   (min(m["ci95"][0] for m in matched), max(m["ci95"][1] for m in matched))
                   if matched else None,
                   _mean(matched, "wrapped_success"), _mean(matched, "bare_benign_flagged"))


def _mean(runs: Sequence[dict], key: str) -> float | None:
    values = [m[key] for m in runs if key in m]
    return sum(values) / len(values) if values and len(values) == len(runs) else None
