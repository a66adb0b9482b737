#!/usr/bin/env python3
"""A stand-in for a coding agent's headless CLI, for tests/proposer/test_agent.py.

It reads its prompt (`--prompt-arg TEXT`, `--prompt-file PATH`, or stdin), checks that it is the
task brief, edits train.py in its working folder as an agent would, and prints a final answer.
Flags choose a misbehaviour: --exit N, --fail-first MARKER (fail once, then succeed), --hang
PIDFILE (start a child, write its pid, sleep), --no-change, --non-editable, --no-title.
"""

import argparse
import os
import py_compile
import shutil
import subprocess
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--prompt-arg")
parser.add_argument("--prompt-file")
parser.add_argument("--exit", type=int, default=0)
parser.add_argument("--fail-first")
parser.add_argument("--hang")
parser.add_argument("--no-change", action="store_true")
parser.add_argument("--non-editable", action="store_true")
parser.add_argument("--no-title", action="store_true")
parser.add_argument("--copy-to", help="save the edited train.py here, for the test to compare")
parser.add_argument("--env-to", help="write the names of our environment variables here")
parser.add_argument("--prompt-to", help="save the prompt here")
args = parser.parse_args()

if args.prompt_arg is not None:
    prompt = args.prompt_arg
elif args.prompt_file is not None:
    prompt = Path(args.prompt_file).read_text()
else:
    prompt = sys.stdin.read()
if args.prompt_to:
    Path(args.prompt_to).write_text(prompt)
if args.env_to:
    Path(args.env_to).write_text("\n".join(sorted(os.environ)))

if "# Task:" not in prompt or "learning_rate = 1e-3" not in prompt or "TITLE:" not in prompt:
    print("fake agent: the prompt is not the task brief with the parent's code", file=sys.stderr)
    sys.exit(3)

if args.exit:
    print("fake agent: something broke", file=sys.stderr)
    sys.exit(args.exit)
if args.fail_first and not Path(args.fail_first).exists():
    Path(args.fail_first).write_text("failed once")
    print("fake agent: first attempt fails", file=sys.stderr)
    sys.exit(1)
if args.hang:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    Path(args.hang).write_text(str(child.pid))
    time.sleep(120)

train = Path("train.py")
if not args.no_change:
    text = train.read_text()
    assert "learning_rate = 1e-3" in text
    train.write_text(text.replace("learning_rate = 1e-3", "learning_rate = 3e-3"))
    py_compile.compile(str(train), doraise=True)  # leaves __pycache__ behind, as real agents do
if args.non_editable:
    Path("harness.py").write_text("# the agent tried to change the harness\n")
if args.copy_to:
    shutil.copy(train, Path(args.copy_to) / "train.py")

print("I read train.py and changed the learning rate.")
if args.no_title:
    print("Raised the learning rate to 3e-3 for faster progress.\nIt should lower val_bpb.")
else:
    print("TITLE: Triple the learning rate")
    print("CATEGORY: **hyperparameter**")
    print("HYPOTHESIS: 1e-3 is too cautious for so few steps; 3e-3 lowers val_bpb by about 0.05.")
    print("RATIONALE: Small models tolerate larger AdamW steps.")
    print("Short runs reward fast early progress.")
