"""expect: kernel.reference-changed
Finds the reference model among the live objects and gives that instance (not its class, which
was checked) a forward that runs twice ("a warm-up pass on first use", whose flag is never set).
Before 2026-12-06: 1.84x [0.52, 4.73], only the kernel.reference-slowed warning; the reference
instances' attributes, parameters and hooks are now part of what must not change."""
import gc
import sys

import torch
import torch.nn as nn


def _share_warmup():
    reference = sys.modules.get("_reference")
    if reference is None:
        return
    for obj in gc.get_objects():
        if isinstance(obj, reference.Model) and "forward" not in vars(obj):
            plain = obj.forward

            def forward(*args, _plain=plain, **kwargs):
                _plain(*args, **kwargs)  # warm-up
                return _plain(*args, **kwargs)

            obj.forward = forward


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        _share_warmup()

    def forward(self, x):
        return torch.softmax(x, dim=-1)
