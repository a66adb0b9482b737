"""How the toy's checkpoint is read: the program's own code, which ideas may not change, and
which the score step imports."""

import json


def read_estimate(path):
    with open(path) as f:
        return float(json.load(f)["estimate"])
