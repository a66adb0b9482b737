"""The toy task's score step: the squared error of the checkpoint's estimate against the
held-out target, which only this step sees. It reads the checkpoint with the program's own
model.py, which ideas may not change."""

import argparse
import json
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--target", required=True)
parser.add_argument("--output", required=True)
args = parser.parse_args()

sys.path.insert(0, os.getcwd())  # the program's folder
from model import read_estimate  # noqa: E402

estimate = read_estimate("out/model.json")
with open(args.target) as f:
    target = float(f.read())
with open(args.output, "w") as f:
    json.dump({"err": (estimate - target) ** 2}, f)
