import math

import torch
import torch.nn as nn


class Model(nn.Module):
    """Causal self-attention written out: softmax(q k^T / sqrt(d), masked above the diagonal) v,
    on (batch, heads, seq, head_dim) tensors."""

    def __init__(self):
        super().__init__()

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        seq, head_dim = q.shape[-2], q.shape[-1]
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(head_dim))
        mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool, device=q.device), diagonal=1)
        scores = scores.masked_fill(mask, float("-inf"))
        attn = torch.softmax(scores, dim=-1)
        return attn @ v


batch_size = 2
heads = 8
seq = 512
head_dim = 64


def get_inputs():
    q = torch.randn(batch_size, heads, seq, head_dim)
    k = torch.randn(batch_size, heads, seq, head_dim)
    v = torch.randn(batch_size, heads, seq, head_dim)
    return [q, k, v]


def get_init_inputs():
    return []
