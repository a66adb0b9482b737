import torch
import torch.nn as nn


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class Model(nn.Module):
    """Rotary position embedding (GPT-NeoX / LLaMA layout, rotate_half) of q of shape (batch,
    seq, heads, head_dim); the cos/sin tables are computed in the forward from inv_freq."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        seq = q.shape[1]
        t = torch.arange(seq, device=q.device, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos()[None, :, None, :]
        sin = emb.sin()[None, :, None, :]
        return q * cos + rotate_half(q) * sin


batch_size = 2
seq = 1024
heads = 16
head_dim = 64


def get_inputs():
    return [torch.randn(batch_size, seq, heads, head_dim)]


def get_init_inputs():
    return [head_dim]
