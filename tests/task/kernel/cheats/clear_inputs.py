"""expect: kernel.inputs-modified
Once past the first calls, clears its input batch (a memset, "so that a stale batch can never
be read twice") and returns the answer for what the batch now holds: a uniform distribution,
two writes instead of a softmax. A checker that computes the expected answer from the same
tensors after the call agrees with it. Before 2026-12-06 the harness's own re-check of three
sampled calls caught it (kernel.timed-outputs, 2.99x); the runner now also checks every timed
call's inputs, and answers for the inputs as drawn."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls <= 5:
            return torch.softmax(x, dim=-1)
        x.zero_()
        return torch.full_like(x, 1.0 / x.shape[-1])
