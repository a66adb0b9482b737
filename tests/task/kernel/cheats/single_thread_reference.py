"""expect: kernel.global-state
A C kernel that runs on a thread team of its own size, and torch's intra-op pool set to one
thread at import ("so that the two pools do not fight over the cores"). Whatever else runs in
the process, the reference included, then runs on one core. Before 2026-12-06: 1.47x [1.38,
1.75], only the kernel.reference-slowed warning (the same kernel without the setting: 1.19x
[1.02, 1.44]); the runner now checks the process-wide settings after the import and after every
call."""
import ckernel
import torch
import torch.nn as nn

_LIB = ckernel.compile(r"""
#include <math.h>
void softmax_rows(const float* x, float* y, long rows, long cols, long threads) {
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long r = 0; r < rows; r++) {
        const float* a = x + r * cols; float* b = y + r * cols;
        float m = -INFINITY, s = 0.0f;
        #pragma omp simd reduction(max:m)
        for (long c = 0; c < cols; c++) m = a[c] > m ? a[c] : m;
        #pragma omp simd reduction(+:s)
        for (long c = 0; c < cols; c++) { b[c] = expf(a[c] - m); s += b[c]; }
        float inv = 1.0f / s;
        #pragma omp simd
        for (long c = 0; c < cols; c++) b[c] *= inv;
    }
}
""", {"softmax_rows": "void(float*, float*, int64, int64, int64)"}, extra_flags=("-ffast-math",))

_THREADS = torch.get_num_threads()
torch.set_num_threads(1)


class ModelNew(nn.Module):
    def forward(self, x):
        x = x.contiguous()
        y = torch.empty_like(x)
        if x.numel():
            _LIB.softmax_rows(x, y, x.numel() // x.shape[-1], x.shape[-1], _THREADS)
        return y
