"""The test-futility looks (at the screen, between confirmation pairs) on simulated candidates.

    python bench/futility_sim.py
    python bench/futility_sim.py --candidates 20000 --df 6 --df 30

A run's real streams are short (a 40-minute bench decides ~30 nodes), too few to say how often a
stop rule gives up a node whose test would have passed. Here candidates are drawn from a
stated mixture of true effects, in units of the run's paired noise sigma: most near-null, some
clearly worse, a few real improvements. Each is screened on one seed (a gain > 0 goes on), then
confirmed on `confirm` fresh pairs against the judge's bar (`Judge.confirmation_bar`: one-sided
t at alpha with the pooled noise's degrees of freedom). The looks are the real ones
(`recursor.value.futility.confirm_forecast`): at the screen, then after each fresh pair but the
last. Prints per stop level: the screen-passers stopped at the screen and between pairs, the
fresh runs saved (a pair is two runs: candidate and parent), the stopped nodes whose test would
have passed (false stops, the issue's measure), the tests that would have passed, and the real
improvements (true effect > 1 sigma) among the stopped, and among those whose test would have
passed (real passes lost). The prior is flat, or learned from the fresh pairs ended so far, as
the loop learns it (`effect_spread`). Stops inside a running pair (from a partial curve) are
not simulated: they stop more, sooner.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from recursor.judge import Judge, JudgeConfig
from recursor.judge.stats import Pooled
from recursor.value.futility import confirm_forecast, effect_spread

# (share, mean, sd) of the true effect, in sigmas (positive = better); a stated guess, not a
# measurement: a literature idea library on a tuned baseline is mostly near-null and worse
MIXTURE = ((0.55, 0.0, 0.3), (0.35, -2.5, 1.5), (0.10, 1.5, 1.0))


def draw(rng: np.random.Generator, n: int) -> np.ndarray:
    shares = np.array([m[0] for m in MIXTURE])
    which = rng.choice(len(MIXTURE), size=n, p=shares / shares.sum())
    means = np.array([m[1] for m in MIXTURE])[which]
    sds = np.array([m[2] for m in MIXTURE])[which]
    return rng.normal(means, sds)


def simulate(deltas: np.ndarray, rng: np.random.Generator, risk: float, df: int,
             confirm: int, alpha: float, prior: bool) -> dict:
    """One run's stream of candidates, in order: the prior (with `prior`) is learned from the
    fresh pairs ended so far, as the loop learns it."""
    sigma = 1.0
    judge = Judge("m", True, [0], JudgeConfig(alpha=alpha, min_effect=0.0, confirm=confirm))
    bar = judge.confirmation_bar(Pooled(sigma**2, df))
    out = {"passers": 0, "at_screen": 0, "between": 0, "saved": 0, "false": 0, "real": 0,
           "passed": 0, "runs": 0, "lost": 0}
    seen: list[list[float]] = []  # each confirmed node's ended fresh pairs
    for delta in deltas:
        screen = rng.normal(delta, sigma)
        if screen <= 0:
            continue
        out["passers"] += 1
        fresh = rng.normal(delta, sigma, confirm)
        would_pass = bool(fresh.mean() > bar)
        out["passed"] += would_pass
        out["runs"] += 2 * confirm
        tau = effect_spread(seen, sigma) if prior else None
        ended = confirm
        if screen < bar:  # a screen beyond the bar runs on for the auditor (as in the loop)
            for j in range(confirm):
                cf = confirm_forecast(screen, list(fresh[:j]), [], confirm - j, sigma, bar,
                                      minimize=False, df=df, prior_sd=tau)
                if cf is not None and cf.p_pass < risk:
                    ended = j
                    break
        seen.append(list(fresh[:ended]))
        if ended == confirm:
            continue
        out["at_screen" if ended == 0 else "between"] += 1
        out["saved"] += 2 * (confirm - ended)
        out["false"] += would_pass
        out["real"] += bool(delta > 1)
        out["lost"] += would_pass and delta > 1
    out["tau"] = effect_spread(seen, sigma)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=3000)
    parser.add_argument("--df", type=int, action="append", default=None,
                        help="degrees of freedom of the pooled noise (repeatable)")
    parser.add_argument("--risk", type=float, action="append", default=None,
                        help="test stop level (repeatable)")
    parser.add_argument("--confirm", type=int, default=2)
    parser.add_argument("--alpha", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console()
    console.print(f"{time.strftime('%Y-%m-%d %H:%M')} · {args.candidates} candidates · "
                  f"true effects (share, mean, sd in sigmas): {MIXTURE}")
    table = Table(title=f"test futility, {args.confirm} fresh pairs, alpha {args.alpha:g}")
    for col in ("pooled df", "prior", "stop level", "screen-passers", "stopped at screen",
                "stopped between", "fresh runs saved", "false stops", "tests passed",
                "real gains stopped", "real passes lost"):
        table.add_column(col, justify="right")
    for df in args.df or [6, 30]:
        for prior in (False, True):
            for risk in args.risk or [0.02, 0.10]:
                rng = np.random.default_rng(args.seed)
                r = simulate(draw(rng, args.candidates), rng, risk, df, args.confirm,
                             args.alpha, prior)
                stopped = r["at_screen"] + r["between"]
                table.add_row(
                    str(df), f"learned (tau {r['tau']:.2f})" if prior else "flat", f"{risk:g}",
                    str(r["passers"]), f"{r['at_screen']} ({r['at_screen'] / r['passers']:.0%})",
                    f"{r['between']} ({r['between'] / r['passers']:.0%})",
                    f"{r['saved'] / r['runs']:.0%}",
                    f"{r['false']}/{stopped} ({r['false'] / max(stopped, 1):.1%})",
                    str(r["passed"]), str(r["real"]), str(r["lost"]))
    console.print(table)


if __name__ == "__main__":
    main()
