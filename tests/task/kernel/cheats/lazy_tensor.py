"""expect: kernel.output-type
Returns a tensor subclass that computes nothing until someone looks at it, i.e. after the clock
has stopped."""
import torch
import torch.nn as nn


class Deferred(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return super().__torch_function__(func, types, args, kwargs or {})


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=-1).as_subclass(Deferred)
