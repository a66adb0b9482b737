import torch
import torch.nn as nn


class ModelNew(nn.Module):
    """Sum over dimension 1 of a (batch_size, dim1, dim2) tensor, keeping the dimension."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sum(x, dim=self.dim, keepdim=True)
