"""The read-only harness of this task, written by `recursor task init` (recursor.task.scaffold).

recursor starts it from the task folder for each experiment (one program, one seed), with
`RECURSOR_CONFIG` naming the experiment's config (docs/harness.md). It reads its commands from
task.toml's [settings] and its caps from [budget], and it never runs or loads anything of the
candidate's in its own process:

1. Training. It copies the program (recursor's fresh workspace) into a writable folder of the
   scratch folder, `work/`, puts the files of this folder's `assets/` (the program's data, too
   large or not text enough to be program files) in at their paths, and runs settings.train
   there, in the sandbox, with `{seed}` the experiment's seed, for at most
   budget.train_seconds. The program starts in `work/`, so it finds its own files by
   relative paths and may write beside them (its checkpoint). Its output goes to the
   program log. The curve: with settings.curve_regex, every line of its
   output the regex finds is a point; with `{progress_fd}` in settings.train, every JSON line
   it writes on that fd is one; settings.total_steps turns `step` into `progress`.
2. Scoring. It puts the program's own files and assets back as they were given (what
   training wrote stays, but for code: a planted package or bytecode would be imported in
   place of the program's own modules), copies this folder's `scoring/` into the scratch
   folder as `{scoring}` (it was not there while training ran, and under bwrap nothing of
   this folder is visible to the program), and runs settings.score in a fresh sandbox, in
   `work/`, for at most budget.score_seconds. The score step writes its result as JSON to
   `{output}`: a number, or an object holding the metric by name.
3. It reads that JSON (JSON only: nothing is unpickled or imported here), and writes the
   result: the metric, each run's usage, and findings of processes left behind or threads
   beyond the task's limit.

What it trusts: the score command and what it writes. If the score step imports the program's
editable code or loads what training wrote (a checkpoint), that code runs in the score step too: in the
sandbox, where it cannot harm this machine, but where it could change what the step writes. For
a metric the program cannot influence, let the score step write predictions only and compute
the metric here from answers it never sees (docs/harness.md, "Scoring safely"). The metric never
comes from the program's own output, unless settings.metric_regex says it may (it then trusts
the program: any line it prints that the regex finds sets the metric).
"""

import os
import shutil
import sys
import threading

from recursor.harness import (
    Curve,
    HarnessError,
    LastMatch,
    Program,
    RegexCurve,
    command,
    fresh_folder,
    harness_main,
    placeholders,
    read_score,
    remove,
    usage_findings,
)

HERE = os.path.dirname(os.path.abspath(__file__))
SCORING = os.path.join(HERE, "scoring")  # harness files: never shown to the training run
ASSETS = os.path.join(HERE, "assets")  # data the program reads, put in its folder at their paths


def run(config, metrics):
    settings, budget = config["settings"], config["budget"]
    name = config["evaluation"]["name"]
    if "train" not in settings:
        raise RuntimeError("task.toml's [settings] has no 'train' command")
    threads = config["limits"]["threads"]
    values = {"seed": config["seed"], "threads": threads, "python": sys.executable}
    total = settings.get("total_steps")
    curve = Curve(metrics, progress_of=("step", float(total)) if total else None)
    on_line = RegexCurve(curve, settings["curve_regex"]) if settings.get("curve_regex") else None
    trusted = None
    if settings.get("metric_regex") and not settings.get("score"):
        trusted = LastMatch(settings["metric_regex"], name)  # the program's own word for it
        on_line = _both(on_line, trusted)

    log_path = config.get("program_log") or os.path.join(config["scratch"], "program.log")
    with open(log_path, "ab") as log:
        program = Program(config, log, ASSETS)
        usage = {"train": train(program, settings["train"], values, budget, curve, on_line)}
        if settings.get("score"):
            program.restore()
            usage["score"], result = score(program, config, settings["score"], values, budget,
                                           name)
        elif trusted is not None:
            if trusted.value is None:
                raise HarnessError(f"training printed no line that settings.metric_regex "
                                   f"finds, so there is no {name}")
            result = {name: trusted.value}
        else:
            raise RuntimeError("task.toml's [settings] names no 'score' command, so this task "
                               "has no metric yet: add one that writes JSON to {output}, or "
                               "compute the metric in harness.py (docs/harness.md)")
    found = []
    for stage, report in usage.items():
        found += usage_findings({"train": "training", "score": "scoring"}[stage], report,
                                threads)
    return {"metrics": result, "usage": usage, "curve_points": curve.points, "findings": found}


def train(program, template, values, budget, curve, on_line):
    """The training run; the sandbox init's usage report of it."""
    pass_fds, reader = (), None
    if "progress_fd" in placeholders(template):
        read_fd, write_fd = os.pipe()
        values = {**values, "progress_fd": write_fd}
        pass_fds = (write_fd,)
        reader = threading.Thread(target=curve.follow_pipe, args=(read_fd,), daemon=True)
        reader.start()
    try:
        return program.run(command(template, values), seconds=float(budget["train_seconds"]),
                           what="training", on_line=on_line, pass_fds=pass_fds)
    finally:
        if reader is not None:
            os.close(write_fd)
            reader.join(timeout=5)


def score(program, config, template, values, budget, name):
    """The score step, in a fresh sandbox with the scoring files; its usage and metrics."""
    scratch = config["scratch"]
    scoring = fresh_folder(os.path.join(scratch, "scoring"))
    if os.path.isdir(SCORING):
        shutil.copytree(SCORING, scoring, dirs_exist_ok=True)
    output = os.path.join(scratch, "score.json")
    remove(output)  # whatever training left there is not a score
    values = {**values, "scoring": scoring, "output": output}
    try:
        report = program.run(command(template, values), seconds=float(budget["score_seconds"]),
                             what="scoring")
        return report, read_score(output, name)
    finally:
        remove(scoring)  # the scoring data does not stay where a program can read it
        remove(output)


def _both(first, second):
    if first is None:
        return second
    return lambda line: (first(line), second(line))


if __name__ == "__main__":
    sys.exit(harness_main(run))
