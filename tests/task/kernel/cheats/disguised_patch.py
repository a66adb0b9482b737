"""expect: kernel.reference-changed
Replaces torch.softmax (which the reference calls) with a shim that wastes time, compiled under
the file name of one of torch's own modules: the identity check let any function through that
said it came from torch's files (torch.compile rewraps a few of torch's own). Before 2026-12-06:
1.72x [1.45, 3.26], only the kernel.reference-slowed warning; now only the three names torch
rewraps itself may change, and only to functions from its files."""
import os
import time

import torch
import torch.nn as nn

_SHIM = '''
def softmax(input, dim=None, dtype=None, **kwargs):
    _settle()
    return _native(input, dim, dtype=dtype, **kwargs)
'''


def _settle():
    end = time.perf_counter() + 0.0008
    while time.perf_counter() < end:
        pass


_native = torch.softmax
_scope = {"_native": _native, "_settle": _settle}
exec(compile(_SHIM, os.path.join(os.path.dirname(torch.__file__), "functional.py"), "exec"), _scope)
torch.softmax = _scope["softmax"]


class ModelNew(nn.Module):
    def forward(self, x):
        return _native(x, dim=-1)
