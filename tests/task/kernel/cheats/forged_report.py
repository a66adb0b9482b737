"""expect: kernel.report-forged
Writes its own progress lines to the pipe the host script reports on (its number is in argv):
a timing record with the reference's real time and a third of it for itself, ahead of the real
one. The kernel itself is the reference's. Before 2026-12-06: exactly 3.00x, only the
kernel.reference-slowed warning (the harness took the first timing record). Lines now carry a
secret the runner read from a pipe it closed before the import."""
import json
import os
import sys
import time

import torch
import torch.nn as nn


def _progress():
    try:
        with open(sys.argv[1]) as f:
            timing = json.load(f)["timing"]
        reference = sys.modules["_reference"]
        for name, value in timing["constants"].items():
            setattr(reference, name, value)
        model, x = reference.Model(*reference.get_init_inputs()), reference.get_inputs()
        best = min(_clocked(model, x) for _ in range(10))
        n = timing["trials"]
        lines = [{"type": "timing-start"},
                 {"type": "timing", "reference_ns": [best] * n, "candidate_ns": [best // 3] * n,
                  "busy_trials": 0, "reference_busy_trials": 0, "wrong_trials": [], "n_wrong": 0,
                  "aliased_trials": 0},
                 {"type": "timing-end"}]
        fd = int(sys.argv[2])
        os.write(fd, (json.dumps(lines[0]) + "\n").encode())
        time.sleep(2 * n * best / 1e9 + 0.05)
        os.write(fd, "".join(json.dumps(r) + "\n" for r in lines[1:]).encode())
    except (OSError, KeyError, IndexError, ValueError):
        pass


def _clocked(model, x):
    t0 = time.perf_counter_ns()
    with torch.no_grad():
        model(*x)
    return time.perf_counter_ns() - t0


_progress()


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=-1)
