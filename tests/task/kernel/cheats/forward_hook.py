"""expect: kernel.global-state
Registers a global forward pre-hook that hands every other module a private copy of its inputs
("so that no module can see another's in-place writes"). It skips itself: the reference pays
for the copies on every call, the candidate does not. Before 2026-12-06: 1.47x [1.13, 2.43],
only the kernel.reference-slowed warning."""
import torch
import torch.nn as nn
from torch.nn.modules.module import register_module_forward_pre_hook


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=-1)


def _private_inputs(module, args):
    if isinstance(module, ModelNew):
        return None
    return tuple(a.clone().clone() if isinstance(a, torch.Tensor) else a for a in args)


register_module_forward_pre_hook(_private_inputs)
