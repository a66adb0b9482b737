import torch
import torch.nn as nn


class Model(nn.Module):
    """A matmul whose inputs do not fit: forward fails at run time."""

    def forward(self, a, b):
        return a @ b


M = 64
K = 32


def get_inputs():
    return [torch.randn(M, K), torch.randn(M, K)]


def get_init_inputs():
    return []
