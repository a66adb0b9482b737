"""How far recursor's verdicts can be trusted: false accepts, true accepts and cheats caught.

    python bench/verdicts.py                      # the README's table (about 30 min on 2 cores)
    python bench/verdicts.py --set budget.train_tokens=16384 --nulls 12   # a quick look

One `recursor.try_patches` run on `tiny-lm` judges, each against the same baseline:

- null candidates: changes that do not matter (a learning rate 0.05-0.4% off, an init scale,
  AdamW's eps or beta2 nudged, a rename, a comment, statements reordered, a logging interval).
  The numeric ones move val_bpb by noise; the pure ones leave it bit-identical. Any accept is
  a false accept.
- ideas from the task's library that help in the nanoGPT speedrun line (GOOD_IDEAS): an accept
  is a true accept. Not all of them help at this task's budget (on 2026-12-01, RMSNorm, warmup
  with cosine decay and tied embeddings lost on the screening seed), so the true-accept rate is
  a floor: the rule that accepts more of them is the one to ask why.
- the cheat fixtures of tests/audit/cheats: caught when rejected for the check they name.

Two rules judge the same evaluations side by side: recursor's judge and auditor (screen on one
seed, confirm on fresh seeds run by candidate and parent, moderated t at alpha, then the
auditor), and an autoresearch-style single-seed greedy rule (keep if the candidate's val_bpb on
the first seed beats the baseline's on that seed). The greedy verdict is read off the screening
run that recursor makes anyway, so both see exactly the same numbers. Held-out evaluation is
off: it flags, it never decides.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

import recursor
from recursor.task import load_task, parse_override

HERE = Path(__file__).resolve().parent
CHEATS = HERE.parent / "tests" / "audit" / "cheats"
GOOD_IDEAS = ("lr-3e-3", "context-32", "muon", "qk-norm", "rmsnorm", "warmup-cosine",
              "swiglu", "tied-embeddings")


@dataclass(frozen=True)
class Candidate:
    kind: str  # "null", "good" or "cheat"
    title: str
    patch: str
    expect: str = ""  # a cheat: the check that must catch it


def block(search: str, replace: str) -> str:
    return f"train.py\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def null_candidates(count: int) -> list[Candidate]:
    """`count` changes that do not matter, numeric ones first, each different from the rest."""
    numeric = []
    # the learning rate off by 0.05% .. 0.4%, both ways: the "0.1% change", and around it
    for k in (1, 2, 3, 4, 6, 8):
        for sign in (1, -1):
            lr = 1e-3 * (1 + sign * 0.0005 * k)
            numeric.append((f"learning rate {lr:.6g}", block("learning_rate = 1e-3",
                                                             f"learning_rate = {lr:.6g}")))
    for value in ("0.09995", "0.10005", "0.0999", "0.1001"):
        numeric.append((f"weight decay {value}", block("weight_decay = 0.1",
                                                       f"weight_decay = {value}")))
    for value in ("0.9499", "0.9501", "0.9498", "0.9502"):
        numeric.append((f"beta2 {value}", block("beta2 = 0.95", f"beta2 = {value}")))
    for value in ("0.999", "1.001"):
        numeric.append((f"grad clip {value}", block("grad_clip = 1.0", f"grad_clip = {value}")))
    for value in ("0.01999", "0.02001"):
        numeric.append((f"embedding init std {value}", block(
            "        elif isinstance(module, nn.Embedding):\n"
            "            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)",
            "        elif isinstance(module, nn.Embedding):\n"
            f"            torch.nn.init.normal_(module.weight, mean=0.0, std={value})")))
    for value in ("9e-9", "1.1e-8"):
        numeric.append((f"AdamW eps {value}", block(
            "    return AdamW(groups, lr=learning_rate, betas=(beta1, beta2))",
            "    return AdamW(groups, lr=learning_rate, betas=(beta1, beta2), "
            f"eps={value})")))
    pure = [
        ("a comment", block("grad_clip = 1.0", "grad_clip = 1.0  # clip the global grad norm")),
        ("log every 20 steps", block(
            "log_every = 10  # steps between two points of the progress curve",
            "log_every = 20  # steps between two points of the progress curve")),
        ("rename the optimizer's groups", block(
            "    groups = [\n        {\"params\": decay, \"weight_decay\": weight_decay},\n"
            "        {\"params\": no_decay, \"weight_decay\": 0.0},\n    ]\n"
            "    return AdamW(groups, lr=learning_rate, betas=(beta1, beta2))",
            "    param_groups = [\n        {\"params\": decay, \"weight_decay\": weight_decay},\n"
            "        {\"params\": no_decay, \"weight_decay\": 0.0},\n    ]\n"
            "    return AdamW(param_groups, lr=learning_rate, betas=(beta1, beta2))")),
        ("reorder two hyperparameters", block("beta1 = 0.9\nbeta2 = 0.95",
                                              "beta2 = 0.95\nbeta1 = 0.9")),
    ]
    # pure ones are spread in, so that a small --nulls still sees some
    out, p = [], 0
    for i, (title, patch) in enumerate(numeric):
        out.append(Candidate("null", title, patch))
        if i % 5 == 4 and p < len(pure):
            out.append(Candidate("null", pure[p][0], pure[p][1]))
            p += 1
    out += [Candidate("null", t, x) for t, x in pure[p:]]
    if count > len(out):
        raise SystemExit(f"--nulls: at most {len(out)} null candidates are defined")
    return out[:count]


def good_candidates(task_name: str) -> list[Candidate]:
    ideas = {i.key: i for i in load_task(task_name).ideas}
    return [Candidate("good", ideas[k].title, ideas[k].patch_text) for k in GOOD_IDEAS]


def cheat_candidates() -> list[Candidate]:
    out = []
    for path in sorted(CHEATS.glob("*.patch")):
        text = path.read_text()
        expect = text.splitlines()[0].removeprefix("# expect: ").strip()
        out.append(Candidate("cheat", path.stem, text, expect))
    return out


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a rate k/n, in percent."""
    if n == 0:
        return (math.nan, math.nan)
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (100 * max(0.0, centre - half), 100 * min(1.0, centre + half))


def rate(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {100 * k / n:.0f}% [{lo:.0f}, {hi:.0f}]" if n else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="tiny-lm")
    parser.add_argument("--nulls", type=int, default=30)
    parser.add_argument("--no-good", action="store_true", help="skip the known-good ideas")
    parser.add_argument("--no-cheats", action="store_true", help="skip the cheat fixtures")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--alpha", type=float, default=0.02)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="task.toml override, e.g. --set budget.train_tokens=16384")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench-verdicts"))
    args = parser.parse_args()
    overrides = dict(parse_override(o) for o in args.overrides)

    candidates = null_candidates(args.nulls)
    if not args.no_good:
        candidates += good_candidates(args.task)
    if not args.no_cheats:
        candidates += cheat_candidates()
    console = Console() if Console().is_terminal else Console(width=160)
    run_dir = args.runs_dir / time.strftime("%Y%m%d-%H%M%S")
    console.print(f"{len(candidates)} candidates → {run_dir}")
    t0 = time.monotonic()
    verdicts = recursor.try_patches(args.task, [c.patch for c in candidates], run_dir=run_dir,
                                    workers=args.workers, overrides=overrides, heldout=False,
                                    alpha=args.alpha)
    wall = time.monotonic() - t0

    run = recursor.open_run(run_dir)
    spec = run.task.spec
    metric, screen_seed = spec.metric.name, spec.seeds.values[0]
    nodes = {n.id: n for n in run.nodes()}
    baseline = next(n for n in nodes.values() if n.is_baseline)
    base_screen = baseline.values(metric, [screen_seed]).get(screen_seed)

    def greedy(v: dict) -> bool | None:
        """The single-seed rule on recursor's own screening run; None when it never ran."""
        value = nodes[v["node"]].values(metric, [screen_seed]).get(screen_seed)
        if value is None or base_screen is None:
            return None
        return value < base_screen if spec.minimize else value > base_screen

    rows = list(zip(candidates, verdicts, strict=True))
    detail = Table(title="every candidate")
    for col in ("kind", "candidate", "screen Δ%", "greedy", "recursor", "reason"):
        detail.add_column(col, overflow="fold")
    for c, v in rows:
        value = nodes[v["node"]].values(metric, [screen_seed]).get(screen_seed)
        delta = (f"{100 * (base_screen - value) / base_screen:+.2f}"
                 if value is not None and base_screen else "—")
        g = greedy(v)
        detail.add_row(c.kind, c.title[:48], delta,
                       "—" if g is None else ("accept" if g else "reject"), v["status"],
                       (v["reasons"][0] if v["reasons"] else "")[:90])
    console.print(detail)

    summary = Table(title=f"verdicts on {args.task} — {time.strftime('%Y-%m-%d')}, "
                          f"{platform.machine()}, {platform.node()}, "
                          f"{wall / 60:.0f} min, alpha {args.alpha}")
    for col in ("candidates", "n", "single-seed greedy accepts", "recursor accepts"):
        summary.add_column(col, justify="right")
    for kind, label in (("null", "null (false accepts)"), ("good", "literature ideas (true accepts)")):
        group = [(c, v) for c, v in rows if c.kind == kind]
        if group:
            g = sum(bool(greedy(v)) for _, v in group)
            r = sum(v["status"] == "accepted" for _, v in group)
            summary.add_row(label, str(len(group)), rate(g, len(group)), rate(r, len(group)))
    cheats = [(c, v) for c, v in rows if c.kind == "cheat"]
    if cheats:
        ran = [(c, v) for c, v in cheats if greedy(v) is not None]
        caught = sum(v["status"] != "accepted" and c.expect in
                     {f["check"] for f in v["audit"] if f["blocking"]} for c, v in cheats)
        summary.add_row("cheats (accepted)", str(len(cheats)),
                        f"{sum(bool(greedy(v)) for _, v in ran)} of the {len(ran)} that ran",
                        str(sum(v["status"] == "accepted" for _, v in cheats)))
        summary.add_row("cheats caught for the named check", str(len(cheats)), "—",
                        rate(caught, len(cheats)))
    console.print(summary)
    console.print("rates with their 95% Wilson interval; greedy is read off recursor's own "
                  "screening run, on the same seed and numbers.")


if __name__ == "__main__":
    main()
