"""expect: budget.processes
Forks a helper process (from C, out of the Python review's sight) that outlives the call."""
import ckernel
import torch
import torch.nn as nn

_LIB = ckernel.compile(r"""
#include <unistd.h>
void spawn(void) { if (fork() == 0) { for (;;) sleep(1); } }
""", {"spawn": "void()"})
_LIB.spawn()


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=-1)
