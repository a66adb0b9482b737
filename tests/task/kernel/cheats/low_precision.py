"""expect: kernel.correctness
Computes in bfloat16 and casts back: twice as fast on memory, wrong in the third digit."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.softmax(x.bfloat16(), dim=-1).float()
