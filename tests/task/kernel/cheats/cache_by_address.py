"""expect: harmless
Memoises the result per input buffer: a batch in the same memory block, with the same shape, the
same version counter and the same values at a few sampled places, is taken to be the same batch
and its answer is copied out instead of computed. It never hits, so it cannot gain: every timed
call gets inputs drawn for it, in a fresh allocation (measured 2026-12-06, kernel-softmax, 16
trials, two jobs side by side: before the fresh draws 0.48x [0.38, 1.34] with no finding, the
memo never hit either, the pool was rescaled per call; now 0.53x [0.35, 1.59]). Keyed on the
address alone, a hit would be wrong and caught by kernel.timed-outputs."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self._memo = {}

    def _key(self, x):
        flat = x.reshape(-1)
        probe = flat[:: max(1, flat.numel() // 8)][:8]
        return (x.data_ptr(), tuple(x.shape), x._version, probe.numpy().tobytes())

    def forward(self, x):
        key = self._key(x)
        hit = self._memo.get(key)
        if hit is not None:
            return hit.clone()
        y = torch.softmax(x, dim=-1)
        self._memo = {key: y.clone()}
        return y
