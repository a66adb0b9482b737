"""A toy training program for the scaffold's tests: it reads its data relative to its own
folder, prints a curve, and leaves a checkpoint (JSON) that the score step reads."""

import argparse
import json
import os
import random

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--steps", type=int, default=20)
args = parser.parse_args()

rng = random.Random(args.seed)
with open("data/train.txt") as f:  # relative to the program's own folder
    data = [float(x) for x in f.read().split()]
estimate = 0.0
rate = 0.3  # how far each step moves towards the data's mean
for step in range(1, args.steps + 1):
    estimate += rate * (sum(data) / len(data) - estimate) + rng.gauss(0, 0.02)
    print(f"step {step}: loss {(estimate - 1.0) ** 2:.6f}", flush=True)

os.makedirs("out", exist_ok=True)
with open("out/model.json", "w") as f:
    json.dump({"estimate": estimate}, f)
