"""The toy task's score step: the squared error of the checkpoint's estimate against the
held-out target, which only this step sees. It reads the checkpoint as JSON: no code of the
candidate's runs here."""

import argparse
import json

parser = argparse.ArgumentParser()
parser.add_argument("--target", required=True)
parser.add_argument("--output", required=True)
args = parser.parse_args()

with open("out/model.json") as f:
    estimate = float(json.load(f)["estimate"])
with open(args.target) as f:
    target = float(f.read())
with open(args.output, "w") as f:
    json.dump({"err": (estimate - target) ** 2}, f)
