# ruff: noqa: UP008 - KernelBench writes super(Model, self), which the importer must rename
import torch
import torch.nn as nn


class MyModelHelper(nn.Module):
    """A helper whose name contains Model: the importer must leave it alone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Model(nn.Module):
    """Layer normalization over the last three dimensions, with a learned scale and shift."""

    def __init__(self, normalized_shape: tuple):
        super(Model, self).__init__()
        self.ln = nn.LayerNorm(normalized_shape=normalized_shape)
        self.ln.weight.data.uniform_(0.5, 1.5)
        self.ln.bias.data.uniform_(-0.5, 0.5)
        self.helper = MyModelHelper()
        self.label = "Model"  # a string: not renamed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert isinstance(self, Model)
        return self.helper(self.ln(x))


batch_size = 16
features = 64
dim1 = 256
dim2 = 256
eps = 1e-5


def get_inputs():
    x = torch.randn(batch_size, features, dim1, dim2)
    return [x]


def get_init_inputs():
    return [(features, dim1, dim2)]
