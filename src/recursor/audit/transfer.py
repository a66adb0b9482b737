"""Does a public gain carry over to the held-out evaluation? A gain that does not at all is not
accepted.

The held-out evaluation trains the same program on another corpus and scores that corpus's own
held-back text; the search never sees it. A real improvement to a training recipe carries over
in good part (on `tiny-lm`, rotary embeddings gained 7.7% in public and 8.4% held out; the
README run's best node 18.0% and 19.0%), while a gain from something particular to the public
text (its test windows memorised, a table fitted to it) does not carry over at all.

`transfer` is blocking (`held-out.transfer`) when all three hold:

1. no held-out gain: the held-out relative gain is under two of its standard errors;
2. far outside the run's usual ratio: held-out gain / public gain is under a quarter of the
   median ratio of the run's accepted nodes (1.0 until three have one: a real gain is
   expected to carry over about whole);
3. the noise cannot hide the shortfall: the held-out gain the usual ratio predicts exceeds the
   one measured by more than three standard errors. A small public gain whose held-out share
   would drown in the noise is not judged (the existing warning still shows a held-out loss).

The held-out standard error is the run's paired noise (relative to the parent's metric) doubled
(another corpus, and only a couple of seeds) over the square root of the held-out pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import median

from recursor.judge import Judge
from recursor.store.records import Finding, Node

PRIOR_RATIO = 1.0
FAR = 0.25  # a ratio under this share of the usual one is far outside it
MIN_USUAL = 3  # accepted nodes with a ratio before the run's own median replaces the prior


def gains(node: Node, parent: Node, judge: Judge, name: str,
          seeds: Sequence[int]) -> tuple[float, float, int] | None:
    """(public relative gain, held-out relative gain, held-out pairs) of `node` over `parent`;
    None when either is missing. Public: the mean over the node's fresh confirmation pairs."""
    public = judge.fresh_improvements(node, parent)
    scale = abs(parent.mean(judge.metric, judge.seeds) or 0.0)
    mine, theirs = node.values(name, seeds), parent.values(name, seeds)
    common = [s for s in seeds if s in mine and s in theirs]
    held_scale = abs(sum(theirs[s] for s in common) / len(common)) if common else 0.0
    if not public or not common or not scale or not held_scale:
        return None
    held = sum(judge.improvement(theirs[s], mine[s]) for s in common) / len(common)
    return sum(public) / len(public) / scale, held / held_scale, len(common)


def usual_ratio(ratios: Sequence[float]) -> float:
    return median(ratios) if len(ratios) >= MIN_USUAL else PRIOR_RATIO


def transfer(node: Node, parent: Node, judge: Judge, name: str, seeds: Sequence[int],
             sigma: float, ratios: Sequence[float]) -> list[Finding]:
    """Blocking when a public gain does not transfer to the held-out `name` at all (see above).
    `sigma`: the run's paired noise in the public metric; `ratios`: held-out / public gain of
    the run's other accepted nodes."""
    measured = gains(node, parent, judge, name, seeds)
    if measured is None:
        return []
    public, held, n = measured
    if public <= 0:
        return []
    scale = abs(parent.mean(judge.metric, judge.seeds) or 1.0)
    se = 2 * sigma / scale / math.sqrt(n)
    usual = usual_ratio(ratios)
    expected = usual * public
    ratio = held / public
    if not (held < 2 * se and ratio < FAR * usual and expected - held > 3 * se):
        return []
    basis = (f"the run's median over {len(ratios)} accepted nodes" if len(ratios) >= MIN_USUAL
             else "the prior until three nodes have one")
    return [Finding(
        "held-out.transfer", True,
        f"a public gain of {100 * public:+.2f}% with no held-out gain on {name} "
        f"({100 * held:+.2f}%): held-out/public ratio {ratio:.3f}, where the usual ratio is "
        f"{usual:.2f}; a gain that does not transfer at all comes from something particular "
        "to the public text, not a better method",
        f"public {100 * public:+.3f}% (fresh pairs), held-out {100 * held:+.3f}% over {n} "
        f"seed pair(s), standard error {100 * se:.3f}%; usual ratio {usual:.3f} ({basis}); "
        f"blocking: held-out < 2 se, ratio < {FAR:g} x usual, expected {100 * expected:.3f}% "
        "short by more than 3 se", node.id)]
