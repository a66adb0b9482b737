"""expect: kernel.aliasing kernel.inputs-modified
Computes in place and returns its input: no allocation, no output write traffic."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        return x.copy_(torch.softmax(x, dim=-1))
