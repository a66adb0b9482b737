# ruff: noqa: UP008 - KernelBench writes super(Model, self), which the importer must rename
import torch
import torch.nn as nn


class Model(nn.Module):
    """A linear layer whose sizes come from get_init_inputs, then a scale by a constant."""

    def __init__(self, in_features: int, out_features: int, scale: float):
        super(Model, self).__init__()
        self.gemm = nn.Linear(in_features, out_features)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gemm(x) * self.scale


batch_size = 8192
in_features = 1024
out_features = 512
scale = 0.5


def get_inputs():
    return [torch.randn(batch_size, in_features)]


def get_init_inputs():
    return [1024, 512, 0.5]
