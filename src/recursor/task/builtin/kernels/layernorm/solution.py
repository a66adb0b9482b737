import torch
import torch.nn as nn


class ModelNew(nn.Module):
    """Layer normalization over the last dimension of a (batch_size, dim) tensor, with a learned
    per-feature scale and shift (elementwise_affine)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.ln = nn.LayerNorm(dim, eps=eps)
        self.ln.weight.data.uniform_(0.5, 1.5)
        self.ln.bias.data.uniform_(-0.5, 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x)
