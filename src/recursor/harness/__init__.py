"""The harness kit: what a trusted harness needs to run an untrusted program and score it.

A harness is the read-only program of a task folder that recursor starts for each experiment
(`task.toml` [harness] command, from the task folder, `{python}` being recursor's own
interpreter, so that `import recursor.harness` works in it). It reads its config
(`RECURSOR_CONFIG`, schema in `CONFIG_SCHEMA`), runs the candidate's program in the sandbox the
config names, under a budget, and writes the metrics file itself. The kit is the standard
library only: it runs in the harness's process, beside nothing of the candidate's.

    from recursor.harness import Program, command, harness_main, read_score

    def run(config, metrics):
        with open(config["program_log"], "ab") as log:
            program = Program(config, log)        # a writable copy of the program's folder
            program.run(command("python train.py --seed {seed}", {"seed": config["seed"]}),
                        seconds=config["budget"]["train_seconds"], what="training")
            ...                                   # score in the sandbox, read plain data back
        return {"metrics": read_score(output, config["evaluation"]["name"])}

    if __name__ == "__main__":
        sys.exit(harness_main(run))

docs/harness.md is the guide: the config, the working folder, the curve, scoring safely.
"""

from recursor.harness.audits import usage_findings
from recursor.harness.curve import MAX_POINTS, Curve, RegexCurve, curve_pattern, json_lines
from recursor.harness.errors import HarnessError, NoSandbox, Overtime
from recursor.harness.host import ProgramHost
from recursor.harness.process import child_env, die_with, kill_strays, run_child
from recursor.harness.program import (
    Program,
    command,
    fresh_folder,
    placeholders,
    remove,
    restore_program,
    run_program,
    working_copy,
)
from recursor.harness.results import Metrics, finding, harness_main, load_config
from recursor.harness.schema import CONFIG_SCHEMA, config_problems
from recursor.harness.score import LastMatch, read_score, read_scores

__all__ = [
    "CONFIG_SCHEMA", "MAX_POINTS", "Curve", "HarnessError", "LastMatch", "Metrics", "NoSandbox",
    "Overtime", "Program", "ProgramHost", "RegexCurve", "child_env", "command", "config_problems",
    "curve_pattern", "die_with", "finding", "fresh_folder", "harness_main", "json_lines",
    "kill_strays", "load_config", "placeholders", "read_score", "read_scores", "remove", "restore_program",
    "run_child", "run_program", "usage_findings", "working_copy",
]
