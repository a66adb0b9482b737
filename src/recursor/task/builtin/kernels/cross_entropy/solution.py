import torch
import torch.nn as nn
import torch.nn.functional as F


class ModelNew(nn.Module):
    """Mean cross-entropy loss of (batch_size, vocab) logits against int64 class targets."""

    def __init__(self):
        super().__init__()

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets)
