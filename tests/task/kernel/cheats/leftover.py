"""expect: kernel.correctness
Returns memory it never wrote, hoping the reference's answer is still lying there (KernelBench's
"uninitialised output" hack). The runner poisons freed memory before every candidate call."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.empty_like(x)
