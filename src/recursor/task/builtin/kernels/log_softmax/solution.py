import torch
import torch.nn as nn


class ModelNew(nn.Module):
    """Log-softmax over the last dimension of a (batch_size, dim) tensor."""

    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(x, dim=-1)
