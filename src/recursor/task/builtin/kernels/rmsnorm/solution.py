import torch
import torch.nn as nn


class ModelNew(nn.Module):
    """RMS normalization over the last dimension of a (batch_size, dim) tensor, with a learned
    per-feature scale (as in LLaMA)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.rand(dim) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight
