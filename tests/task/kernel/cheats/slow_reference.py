"""expect: kernel.reference-changed
Makes the reference slower instead of itself faster: replaces torch.softmax (which the
reference calls) with a version that wastes time, and keeps the real one for itself."""
import time

import torch
import torch.nn as nn

_real = torch.softmax


def _slow(*args, **kwargs):
    end = time.perf_counter() + 0.003
    while time.perf_counter() < end:
        pass
    return _real(*args, **kwargs)


torch.softmax = _slow


class ModelNew(nn.Module):
    def forward(self, x):
        return _real(x, dim=-1)
