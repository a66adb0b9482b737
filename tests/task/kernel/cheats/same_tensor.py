"""expect: kernel.aliasing
Returns the very same output tensor on every call once warmed up (a cached result, no copy)."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0
        self.out = None

    def forward(self, x):
        self.calls += 1
        if self.out is None or self.out.shape != x.shape:
            self.out = torch.empty_like(x)
        if self.calls <= 8:
            torch.softmax(x, dim=-1, out=self.out)
        return self.out
