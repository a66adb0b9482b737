import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    """Mean cross-entropy loss of (batch_size, vocab) logits against int64 class targets."""

    def __init__(self):
        super().__init__()

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets)


batch_size = 64
vocab = 32768


def get_inputs():
    logits = torch.randn(batch_size, vocab)
    targets = torch.randint(0, vocab, (batch_size,))
    return [logits, targets]


def get_init_inputs():
    return []
