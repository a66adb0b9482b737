"""Does self-play make the guard more robust to jailbreaks people wrote? Rounds of the guard duel,
then the held-out success of human-written jailbreaks of three guards side by side:

    python bench/selfplay.py --rounds 3 --experiments 6
    python bench/selfplay.py --family chat --rounds 2 --experiments 3 --out runs/selfplay-chat

- the baseline guard (TF-IDF and logistic regression, the curated training templates);
- the self-play defender after the last round (its program, trained with every archive);
- the control: the same program trained on as many templates as the self-play defender saw,
  drawn from the curated training split alone (no archive).

All three on the same seeds, at the threshold the harness sets (5% of hidden benign prompts
flagged), each with its interval over template groups and the benign false-positive rate in
the same wrappers; and at the threshold that flags at most 5% of those held-out benign prompts
and at most 5% of the bare ones, so that the three are compared at one utility. Then the
self-play rounds and the cross-play matrix, and the compute.

With `--family chat`, the rounds are the chat family's (defences of SmolLM2-135M-Instruct that
the defender's programs fit; success is an answer other than the fixed refusal) and the table
holds the baseline and the self-play defender, with the share of benign prompts refused: that
family's defender has no curated-templates control. `--override` applies to both tasks of the
family (e.g. `settings.wrapped=8` for shorter experiments).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from recursor.selfplay import selfplay
from recursor.selfplay.driver import defender_of
from recursor.selfplay.folders import family
from recursor.selfplay.measure import held_out
from recursor.selfplay.report import render
from recursor.task import parse_override
from recursor.task.redteam import make_splits


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--experiments", type=int, default=6, help="each defend and attack run's")
    p.add_argument("--heldout-seeds", type=int, default=2)
    p.add_argument("--workers", type=int, default=1, help="experiments at once in each run")
    p.add_argument("--out", type=Path, default=Path("runs/selfplay"))
    p.add_argument("--family", choices=("guard", "chat"), default="guard")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    console = Console(width=160)
    started = time.time()
    overrides = dict(parse_override(o) for o in args.override)
    of = family(args.family)

    play = selfplay(args.rounds, args.out, experiments=args.experiments,
                    heldout_seeds=args.heldout_seeds, overrides=overrides, family=of.name,
                    workers=args.workers,
                    say=lambda line: console.print(line))
    console.print(render(play))

    seeds = list(range(1, args.heldout_seeds + 1))
    guard, archives = defender_of(play, len(play.rounds))
    base, _ = defender_of(play, 0)
    seen = len(make_splits().train_templates) + sum(
        len(json.loads(a.read_text())["cells"]) for a in archives)
    kw = {"seeds": seeds, "overrides": overrides, "of": of}
    rows = {
        f"baseline {of.name}": held_out(base, [], args.out / "bench" / "baseline", **kw),
        f"self-play defender (round {len(play.rounds)})":
            held_out(guard, archives, args.out / "bench" / "selfplay", **kw),
    }
    if of.control:
        rows["same program, as many curated templates, no archive"] = held_out(
            guard, [], args.out / "bench" / "control", match_templates=seen, **kw)
    table = Table(title=f"Held-out success of human-written jailbreaks (in the wild, "
                        f"{len(seeds)} seeds), lower is better")
    matched = not of.faces_output  # the chat family holds a floor, not a threshold
    for col in ("defender", "success", "95% CI (template groups)",
                "benign FP in the wrappers" if matched else "benign refused, bare and wrapped",
                "threshold set at" if matched else "benign floor",
                *(("success at the same FP in the wrappers", "95% CI") if matched else ())):
        table.add_column(col)
    for name, h in rows.items():
        lo, hi = h.matched_ci95 or (float("nan"), float("nan"))
        table.add_row(name, f"{100 * h.success:.1f}%",
                      f"[{100 * h.ci95[0]:.1f}%, {100 * h.ci95[1]:.1f}%]",
                      f"{100 * h.benign_fpr:.1f}%",
                      f"{100 * h.fpr:.0f}% benign " + ("flagged" if matched else "refused"),
                      *((f"{100 * h.matched:.1f}%" if h.matched is not None else "–",
                         f"[{100 * lo:.1f}%, {100 * hi:.1f}%]") if matched else ()))
    console.print(table)
    console.print(f"templates the self-play defender learnt from: {seen}; wall time "
                  f"{(time.time() - started) / 60:.0f} min")
    (args.out / "bench.json").write_text(json.dumps(
        {name: {"success": h.success, "ci95": h.ci95, "benign_fpr": h.benign_fpr,
                "matched": h.matched, "matched_ci95": h.matched_ci95}
         for name, h in rows.items()}, indent=2))


if __name__ == "__main__":
    main()
