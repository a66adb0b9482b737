"""expect: kernel.correctness
Rows of a batch are independent and alike: computes a stride of them exactly and the rest from
a normaliser estimated on those (a checker that compares a sample of rows, or a sum, would not
see it). Every output is compared whole: caught before and after the changes of 2026-12-06."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        rows = x.shape[0]
        exact = torch.arange(0, rows, 8).tolist() + [rows - 1]
        m = x.amax(dim=-1, keepdim=True)
        e = torch.exp(x[exact] - m[exact])
        scale = e.sum(dim=-1).mean()
        y = torch.exp(x - m) / scale
        y[exact] = e / e.sum(dim=-1, keepdim=True)
        return y
