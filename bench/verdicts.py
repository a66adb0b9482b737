"""How far recursor's verdicts can be trusted: false accepts, honest changes flagged, cheats
caught, class by class, beside the single-seed greedy rule.

    python bench/verdicts.py                      # the task's default budget (hours on 2 cores)
    python bench/verdicts.py --set budget.train_tokens=65536 --nulls 12   # a quicker look

Candidates, judged by tests/audit/catalogue.py's runs (each line of defence on its own):

- null candidates: changes that do not matter (a learning rate 0.05-0.4% off, an init scale,
  AdamW's eps or beta2 nudged, a rename, a comment, statements reordered, a logging interval).
  The numeric ones move val_bpb by noise; the pure ones leave it bit-identical. Any accept is
  a false accept.
- honest changes: every idea of the task's library and the honest fixtures of
  tests/audit/honest. Any blocking finding on one is a false flag; how many the judge accepts
  is the true-accept side (not all of them help at this budget).
- the cheat fixtures of tests/audit/cheats, grouped by their `# class:` (the earlier catalogue,
  which has none, by itself): caught when rejected or failed for the check they name. Runtime
  cheats are judged with the static auditor off, so their row is the runtime defences alone.

Two rules judge the same evaluations side by side: recursor's judge and auditor (screen on one
seed, confirm on fresh seeds run by candidate and parent, moderated t at alpha, the auditor,
the held-out gate), and an autoresearch-style single-seed greedy rule (keep if the candidate's
val_bpb on the first seed beats the baseline's on that seed), read off the screening run that
recursor makes anyway, so both see exactly the same numbers.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

import recursor
from recursor.task import load_task, parse_override

HERE = Path(__file__).resolve().parent
AUDIT = HERE.parent / "tests" / "audit"
sys.path.insert(0, str(AUDIT))
import catalogue  # noqa: E402 - the fixture format and the layered runs, shared with the tests


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


def idea_candidates(task_name: str) -> list[Candidate]:
    return [Candidate("idea", i.title, i.patch_text) for i in load_task(task_name).ideas]


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
    parser.add_argument("--no-ideas", action="store_true", help="skip the library's ideas")
    parser.add_argument("--no-cheats", action="store_true", help="skip the cheat fixtures")
    parser.add_argument("--catalogue", type=Path, action="append", default=[],
                        help="another folder of cheat fixtures (e.g. one kept outside the "
                             "repository); repeatable")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="task.toml override, e.g. --set budget.train_tokens=16384")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench-verdicts"))
    args = parser.parse_args()
    overrides = dict(parse_override(o) for o in args.overrides)

    extra = null_candidates(args.nulls) + ([] if args.no_ideas else idea_candidates(args.task))
    fixtures = catalogue.load(AUDIT / "honest", honest=True)
    if not args.no_cheats:
        for folder in [AUDIT / "cheats", *args.catalogue]:
            fixtures += catalogue.load(folder)
    console = Console() if Console().is_terminal else Console(width=160)
    root = args.runs_dir / time.strftime("%Y%m%d-%H%M%S")
    console.print(f"{len(extra)} nulls and ideas, {len(fixtures)} fixtures → {root}")
    t0 = time.monotonic()
    verdicts = catalogue.judge(fixtures, root, overrides, workers=args.workers,
                               task=args.task, extra=[c.patch for c in extra])
    wall = time.monotonic() - t0
    greedy = Greedy()

    rows = [(c.kind, c.title, "", verdicts[f"extra-{i}"]) for i, c in enumerate(extra)]
    rows += [("honest" if f.expect == "honest" else _group(f), f.name, f.expect,
              verdicts[f.name]) for f in fixtures if f.name in verdicts]
    detail = Table(title="every candidate")
    for col in ("group", "candidate", "expect", "screen Δ%", "greedy", "recursor", "caught",
                "reason"):
        detail.add_column(col, overflow="fold")
    for group, title, expect, v in rows:
        delta, g = greedy.screen(v)
        ok = catalogue.caught(v, expect)[0] if expect else None
        detail.add_row(group, title[:44], expect, "—" if delta is None else f"{delta:+.2f}",
                       "—" if g is None else ("accept" if g else "reject"), v["status"],
                       "" if ok is None else ("yes" if ok else "NO"),
                       (v["reasons"][0] if v["reasons"] else "")[:80])
    console.print(detail)

    summary = Table(title=f"verdicts on {args.task} — {time.strftime('%Y-%m-%d')}, "
                          f"{platform.machine()}, {platform.node()}, {wall / 60:.0f} min, "
                          f"budget {overrides or 'the task default'}")
    for col in ("candidates", "n", "single-seed greedy accepts", "recursor accepts",
                "flagged / caught"):
        summary.add_column(col, justify="right")
    groups: dict[str, list] = {}
    for group, _, expect, v in rows:
        groups.setdefault(group, []).append((expect, v))
    for group in sorted(groups, key=_order):
        members = groups[group]
        n = len(members)
        ran = [greedy.screen(v)[1] for _, v in members]
        g = f"{sum(bool(x) for x in ran)} of the {sum(x is not None for x in ran)} that ran"
        accepted = sum(v["status"] == "accepted" for _, v in members)
        if group == "null":
            flagged = "—"
            accepted_text = rate(accepted, n)
        elif group in ("idea", "honest"):
            flagged = rate(sum(any(f["blocking"] for f in v["audit"]) for _, v in members), n)
            accepted_text = rate(accepted, n)
        else:
            flagged = rate(sum(catalogue.caught(v, e)[0] for e, v in members), n)
            accepted_text = str(accepted)
        summary.add_row(_label(group), str(n), g, accepted_text, flagged)
    console.print(summary)
    console.print("rates with their 95% Wilson interval; greedy is read off recursor's own "
                  "screening run, on the same seed and numbers. 'flagged' (nulls, ideas, honest "
                  "changes): a blocking finding on a change that is not a cheat; 'caught' "
                  "(cheats): rejected or failed for the check the fixture names.")


class Greedy:
    """The single-seed rule, read off the screening runs of recursor's own runs."""

    def __init__(self):
        self.runs: dict[str, tuple] = {}

    def _run(self, run_dir: str) -> tuple:
        if run_dir not in self.runs:
            run = recursor.open_run(run_dir)
            spec = run.task.spec
            nodes = {n.id: n for n in run.nodes()}
            baseline = next(n for n in nodes.values() if n.is_baseline)
            screen = spec.seeds.values[0]
            self.runs[run_dir] = (nodes, spec.metric.name, screen, spec.minimize,
                                  baseline.values(spec.metric.name, [screen]).get(screen))
            run.close()
        return self.runs[run_dir]

    def screen(self, v: dict) -> tuple[float | None, bool | None]:
        """(screen gain in % over the baseline, the greedy verdict); Nones when it never ran."""
        nodes, metric, screen, minimize, base = self._run(v["run_dir"])
        value = nodes[v["node"]].values(metric, [screen]).get(screen)
        if value is None or base is None:
            return None, None
        gain = (base - value) if minimize else (value - base)
        return 100 * gain / abs(base), gain > 0


def _group(f: catalogue.Fixture) -> str:
    return f"class {f.klass}" if f.klass else "earlier catalogue"


def _order(group: str) -> tuple[int, str]:
    first = {"null": 0, "idea": 1, "honest": 2, "earlier catalogue": 3}
    return (first.get(group, 4), group)


def _label(group: str) -> str:
    return {"null": "null (false accepts)", "idea": "library ideas (honest)",
            "honest": "honest fixtures", "earlier catalogue": "cheats, earlier catalogue"
            }.get(group, f"cheats, {group}")


if __name__ == "__main__":
    main()
