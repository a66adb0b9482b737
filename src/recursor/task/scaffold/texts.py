"""The texts `recursor task init` writes: task.toml, the folder's README and an example idea."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recursor.task.scaffold.plan import Plan

# settings an example idea would rather change, in this order; else the first number found
FAVOURED = ("learning_rate", "lr", "max_lr", "weight_decay", "dropout", "warmup_iters",
            "warmup_steps", "batch_size")
ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_]\w*)(?P<eq>\s*=\s*)(?P<value>[0-9][0-9_.eE+-]*)"
                        r"(?P<rest>\s*(#.*)?)$")


def toml(value: Any) -> str:
    """A TOML value: strings as literal strings where they can be (regexes stay readable)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if "'" not in value and not any(ord(c) < 32 for c in value):
            return f"'{value}'"
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's
    return "[" + ", ".join(toml(v) for v in value) + "]"


def task_toml(plan: Plan) -> str:
    direction = "minimize" if plan.minimize else "maximize"
    script = plan.script or plan.editable[0]
    lines = [
        "# Written by `recursor task init`; every key is checked by `recursor validate`.",
        "# docs/task-folders.md says what each means, docs/harness.md what harness.py does.",
        "",
        f"name = {toml(plan.name)}",
        f"title = {toml(f'{direction.capitalize()} {plan.metric} of {script}')}",
        'goal = """',
        f"{direction.capitalize()} {plan.metric}, which the task's score step measures after "
        "training,",
        f"by changing {', '.join(plan.editable)}. Each experiment runs `{plan.train}`",
        "in a sandbox with its own seed, within the budget below.",
        '"""',
        "",
        "[program]",
        f"files = {toml(list(plan.program))}   # copied into every experiment",
        f"editable = {toml(list(plan.editable))}   # what an idea may change",
        "",
        "[harness]",
        "command = ['{python}', 'harness.py']   # {python}: the interpreter recursor runs with",
        f"files = {toml(['harness.py', *(f'assets/{a}' for a in plan.assets), *plan.scoring])}"
        "   # hashed before every experiment",
        "",
        "[metric]",
        f"name = {toml(plan.metric)}",
        f"direction = {toml(direction)}",
    ]
    if plan.curve_name or "progress_fd" in plan.train:
        curve = plan.curve_name or "loss"
        lines.append(f"curve = {toml(curve)}   # the curve quantity the value function follows "
                     "(needs progress: settings.total_steps)")
    lines += [
        "",
        "[budget]   # what one experiment may spend; harness.py enforces it",
        f"train_seconds = {plan.train_seconds:g}",
        f"score_seconds = {plan.score_seconds:g}",
        "",
        "[limits]   # what recursor enforces on the whole experiment, harness included",
        f"timeout_seconds = {plan.train_seconds + plan.score_seconds + 60:g}",
        f"memory_mb = {plan.memory_mb}",
        f"threads = {plan.threads}",
        "",
        "[seeds]",
        f"values = {toml(list(range(1, plan.seeds + 1)))}   # the baseline runs them all; a "
        "candidate is screened on the first",
        "confirm = 2   # then candidate and parent both run 2 fresh seeds",
        "# ... and 2 more at a time while the candidate is promising, up to 6: a training run's",
        "# noise often hides a real gain from 2 pairs (docs/judge.md, sequential confirmation)",
        "confirm_max = 6",
        "confirm_spending = \"pocock\"   # a clear win passes at the first look, not later",
        "",
        "[settings]   # read by harness.py",
        f"train = {toml(plan.train)}",
    ]
    if plan.score:
        lines.append(f"score = {toml(plan.score)}")
    else:
        lines.append("# score = '{python} {scoring}/score.py --output {output}'   # none yet: "
                     "see README.md")
    if plan.curve_regex:
        lines.append(f"curve_regex = {toml(plan.curve_regex)}")
    if plan.total_steps:
        lines.append(f"total_steps = {plan.total_steps}   # progress = step / total_steps")
    if plan.metric_regex:
        lines.append(f"metric_regex = {toml(plan.metric_regex)}   # TRUSTS THE PROGRAM: the "
                     "metric is what it prints")
    return "\n".join(lines) + "\n"


def example_idea(plan: Plan, root: Path) -> str | None:
    """Write ideas/example.toml: a change of one numeric setting of an editable file, found
    there (so that it applies); its path, or None when no such setting was found (then
    ideas/example.toml.txt shows the format)."""
    (root / "ideas").mkdir()
    for name in (*FAVOURED, None):
        for rel in plan.editable:
            path = root / rel
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError):
                continue
            lines = text.splitlines()
            for line in lines:
                match = ASSIGNMENT.match(line)
                if not match or (name is not None and match["name"] != name):
                    continue
                new = _changed(match["name"], match["value"])
                if new is None or lines.count(line) != 1 or text.count(line) != 1:
                    continue
                after = f"{match['name']}{match['eq']}{new}{match['rest']}"
                (root / "ideas" / "example.toml").write_text(_idea(rel, line, after, match, new))
                return "ideas/example.toml"
    (root / "ideas" / "example.toml.txt").write_text(_idea(
        plan.editable[0], "learning_rate = 1e-3", "learning_rate = 2e-3",
        {"name": "learning_rate", "value": "1e-3"}, "2e-3"))
    return None


def _changed(name: str, value: str) -> str | None:
    try:
        number = int(value.replace("_", "")) if re.fullmatch(r"[0-9_]+", value) else float(value)
    except ValueError:
        return None
    if name == "dropout":
        return "0.0" if number else "0.1"
    if isinstance(number, int):
        return str(number * 2) if number else None
    return f"{number * 2:g}" if number else None


def _idea(rel: str, before: str, after: str, match: Any, new: str) -> str:
    return f'''# An example idea, written by `recursor task init` to show the format: replace it with
# your own. One file per idea; its patch must apply to the baseline (`recursor validate`).
title = "Example: {match['name']} {match['value']} -> {new}"
category = "hyperparameter"
hypothesis = """
An example written by `recursor task init`: changing {match['name']} from {match['value']} to {new}
changes the metric; whether for the better is what the experiment finds out."""
rationale = """
A setting of the program, found in {rel}, chosen only because it is a number that can change:
write your own ideas, each with the mechanism by which it should help."""
source = "recursor task init"
patch = \'\'\'
{rel}
<<<<<<< SEARCH
{before}
=======
{after}
>>>>>>> REPLACE
\'\'\'
'''


def notes(plan: Plan, idea: str | None) -> list[str]:
    out = []
    if not plan.score and not plan.metric_regex:
        out.append("no score step yet: the task has no metric until you add settings.score to "
                   "task.toml (a command that writes JSON to {output}) or compute the metric in "
                   "harness.py; `recursor validate DIR --run` says when it works")
    if plan.metric_regex:
        out.append("the metric is what the program prints (--metric-regex): a candidate that "
                   "prints a better number gets it. Use a score step to judge a proposer's "
                   "changes")
    if plan.score and not plan.scoring:
        out.append("no --scoring files: the score step sees only the program's folder; give it "
                   "held-out data the program never gets with --scoring")
    if plan.curve_regex and not plan.total_steps:
        out.append("the curve has no progress (--total-steps): it is recorded, but the value "
                   "function cannot stop experiments early")
    if idea is None:
        out.append("no numeric setting found for an example idea: ideas/example.toml.txt shows "
                   "the format (rename it .toml once its patch applies)")
    return out


def readme(plan: Plan, idea: str | None, todo: list[str]) -> str:
    direction = "lower" if plan.minimize else "higher"
    scoring = ", ".join(plan.scoring) or "none"
    lines = [
        f"# {plan.name}",
        "",
        f"A recursor task, written by `recursor task init`: find changes to "
        f"{', '.join(plan.editable)} that make {plan.metric} {direction}.",
        "",
        "```bash",
        f"recursor validate {plan.dest}          # task.toml, the files, the ideas",
        f"recursor validate {plan.dest} --run    # one real experiment: metric, curve, logs",
        f"recursor run {plan.dest} --experiments 10",
        "```",
        "",
        "## What is here",
        "",
        f"- the program: {', '.join(plan.program)} (copied from your folder; every experiment "
        "gets a fresh copy of these, with the candidate's changes)",
        f"- editable by ideas: {', '.join(plan.editable)}",
        f"- assets: {', '.join(plan.assets) or 'none'} (the program's data, kept in `assets/` "
        "and put into its folder at these paths for every run; hashed before every "
        "experiment)",
        f"- scoring files: {scoring} (seen only by the score step, never by training; hashed "
        "before every experiment)",
        "- `harness.py`: runs one experiment (read its docstring); `task.toml`: the commands "
        "(`[settings]`), the budget, the seeds",
        f"- `ideas/`: one idea per file{' (' + idea + ' is an example)' if idea else ''}",
        "",
        "## How an experiment runs",
        "",
        "1. The harness copies the program into a writable folder and runs, in the sandbox, "
        "started in that folder (so relative paths work as in your own folder):",
        "",
        f"       {plan.train}",
        "",
        f"   with `{{seed}}` the experiment's seed, for at most {plan.train_seconds:g} s. "
        "`{python}` is the interpreter recursor runs with; the program sees no network and, "
        "under bwrap, none of your files but its own.",
    ]
    if plan.score:
        lines += [
            "2. It puts the program's files back as given (what training wrote stays, but for "
            "code it planted), copies "
            "`scoring/` in as `{scoring}`, and runs, in a fresh sandbox, in the same folder:",
            "",
            f"       {plan.score}",
            "",
            f"   for at most {plan.score_seconds:g} s. It writes JSON to `{{output}}`: a number, "
            f'or {{"{plan.metric}": number}}. The harness reads that JSON and nothing else.',
        ]
    lines += [
        "",
        "## What the harness trusts",
        "",
        "- The metric never comes from the program's output"
        + (" — except here: settings.metric_regex trusts what the program prints." if
           plan.metric_regex else "."),
        "- The curve (from the program's output or its progress pipe) is the program's word: it "
        "only guides early stopping, never the verdict.",
        "- The score command is your code and is trusted. If it imports the program's code or "
        "loads its checkpoint, that code runs in the score step too (in the sandbox, harmless to "
        "your machine, but able to change what the step writes). Never load the candidate's "
        "files (a checkpoint is a pickle) in harness.py itself: it runs outside the sandbox. "
        "For a metric the program cannot touch, let the score step write predictions and "
        "compute the metric in harness.py (docs/harness.md, \"Scoring safely\").",
    ]
    if todo:
        lines += ["", "## Still to do", ""] + [f"- {t}" for t in todo]
    return "\n".join(lines) + "\n"
