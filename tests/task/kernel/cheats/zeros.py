"""expect: kernel.correctness
All zeros: passes a loose absolute tolerance when every output is small (softmax over 16384
columns: each value ~6e-5). Signed inputs and a relative tolerance catch it."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)
