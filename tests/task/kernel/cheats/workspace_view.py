"""expect: kernel.aliasing
Writes every result into one workspace allocated once and returns a view of it: no allocation
per call, and the previous result changes under the caller's feet. Before 2026-12-06 it was
caught only by accident (15 of 16 timed calls: the runner watched earlier outputs through weak
references, and a loop variable happened to keep the last one alive; gain here none, 0.93x).
The runner now holds every correctness output until the last call ran and each timed output
until the next calls ran, and checks that it did not change."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self._arena = torch.empty(0)

    def forward(self, x):
        n = x.numel()
        if self._arena.numel() < n:
            self._arena = torch.empty(n, dtype=x.dtype)
        out = self._arena[:n].view(x.shape)
        torch.softmax(x, dim=-1, out=out)
        return out
