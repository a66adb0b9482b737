"""expect: kernel.correctness
Exact on small batches; on large ones the exponentials and their row sums are kept in bfloat16
(half the memory traffic), which a check on small shapes only would not notice. The timed shape
is the first shape checked, and every timed output is checked too: caught before and after the
changes of 2026-12-06."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        if x.numel() <= 1 << 16:
            return torch.softmax(x, dim=-1)
        e = (x - x.amax(dim=-1, keepdim=True)).bfloat16().exp()
        return (e / e.sum(dim=-1, keepdim=True)).float()
