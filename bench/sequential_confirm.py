"""The sequential confirmation against the fixed two fresh pairs, simulated through the real judge.

    python bench/sequential_confirm.py                            # ~15 min on 2 cores
    python bench/sequential_confirm.py --null-runs 100 --runs 30  # a quicker look

Each design judges the same stream of simulated candidates with the real `Judge.next_step`
(its pooled noise, moderated t, looks and levels; `recursor.judge.simulate`): a run is a
baseline (the task's 4 seeds and 3 noise seeds, as tiny-lm) and `--per-run` candidates of one
true gain, confirmed one after the other against it. Designs, all at the same alpha:

- fixed: `confirm` = 2 fresh pairs, one test at alpha (recursor's default);
- O'Brien-Fleming: looks at 2, 4 and 6 pairs, Lan-DeMets O'Brien-Fleming-type spending;
- Pocock: the same looks, Pocock-type spending.

The noise is a noisy LM task's: the paired difference of a candidate and its parent on one seed
has spread `--pair-sd` (0.04 in val loss: the issue's candidate, better on both pairs by 0.051 and
0.043 and missed at p = 0.052, implies about 0.04), on top of a seed effect both share
(`--seed-sd`, which pairing cancels). True gains of 0.02-0.06 are half a sigma to 1.5 sigma: the
modest, real changes two pairs are too few for. Printed: the share accepted with its Monte-Carlo
standard error (binomial), and the mean fresh pairs run per candidate (each pair is two runs).
Under the null (gain 0) the share accepted is the false-accept rate, which must stay at or below
alpha: the bound the report states per run is alpha times the confirmations.
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import time

from recursor.judge import Judge, JudgeConfig
from recursor.judge.simulate import Noise, simulate_run

SEEDS = (1, 2, 3, 4)
DESIGNS = (("fixed, 2 pairs", None, "obrien-fleming"),
           ("O'Brien-Fleming, 2-6 pairs", 6, "obrien-fleming"),
           ("Pocock, 2-6 pairs", 6, "pocock"))


def measure(judge: Judge, effect: float, runs: int, per_run: int, noise: Noise,
            seed: int) -> tuple[int, int, float, list[int]]:
    """(accepted, candidates, mean fresh pairs, accepted per look)."""
    rng = random.Random(seed)
    outcomes = [o for _ in range(runs) for o in simulate_run(judge, rng, per_run, effect, noise)]
    by_look = [0] * judge.design.looks
    for o in outcomes:
        if o.accepted:
            by_look[o.look - 1] += 1
    pairs = sum(o.pairs for o in outcomes) / len(outcomes)
    return sum(o.accepted for o in outcomes), len(outcomes), pairs, by_look


def cell(k: int, n: int) -> str:
    p = k / n
    return f"{100 * p:.1f}% ± {100 * math.sqrt(p * (1 - p) / n):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=0.02)
    parser.add_argument("--pair-sd", type=float, default=0.04)
    parser.add_argument("--seed-sd", type=float, default=0.01)
    parser.add_argument("--effects", type=float, nargs="+",
                        default=[0.02, 0.03, 0.04, 0.05, 0.06])
    parser.add_argument("--per-run", type=int, default=20, help="candidates per simulated run")
    parser.add_argument("--null-runs", type=int, default=500, help="runs of null candidates")
    parser.add_argument("--runs", type=int, default=150, help="runs per true gain")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    noise = Noise(pair_sd=args.pair_sd, seed_sd=args.seed_sd)
    judges = [(name, Judge("m", True, SEEDS, JudgeConfig(alpha=args.alpha, confirm=2,
                                                         confirm_max=cap, spending=spending,
                                                         noise=3)))
              for name, cap, spending in DESIGNS]
    t0 = time.monotonic()
    header = "| true gain | gain / sd |" + "".join(f" {name}: accepted | pairs |"
                                                  for name, _ in judges)
    lines = [header, "| ---: | ---: |" + " ---: | ---: |" * len(judges)]
    looks: dict[str, list[str]] = {name: [] for name, _ in judges}
    for i, effect in enumerate([0.0, *args.effects]):
        runs = args.null_runs if effect == 0 else args.runs
        row = f"| {effect:g}{' (null)' if effect == 0 else ''} | {effect / args.pair_sd:.2f} |"
        for name, judge in judges:
            k, n, pairs, by_look = measure(judge, effect, runs, args.per_run, noise,
                                           args.seed + 1000 * i)
            row += f" {cell(k, n)} | {pairs:.2f} |"
            if judge.design.sequential:
                looks[name].append(f"{effect:g}: " + "/".join(str(x) for x in by_look))
        lines.append(row)
        print(f"... gain {effect:g} done ({time.monotonic() - t0:.0f} s)", flush=True)
    null_n = args.null_runs * args.per_run
    print(f"\nsequential confirmation, {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
          f"{time.monotonic() - t0:.0f} s; alpha {args.alpha:g} per confirmation (one-sided), "
          f"paired-difference sd {args.pair_sd:g}, seed effect sd {args.seed_sd:g}")
    print(f"trials: {null_n} null candidates ({args.null_runs} runs of {args.per_run}), "
          f"{args.runs * args.per_run} per true gain ({args.runs} runs); accepted: share ± "
          "Monte-Carlo standard error; pairs: mean fresh pairs per candidate\n")
    print("\n".join(lines))
    for name, judge in judges:
        if judge.design.sequential:
            levels = ", ".join(f"{x:.3g}" for x in judge.design.levels)
            print(f"\n{name}: looks at {judge.design.pairs} pairs, levels {levels}; accepted "
                  f"at each look: " + "; ".join(looks[name]))


if __name__ == "__main__":
    main()
