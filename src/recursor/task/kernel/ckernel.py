"""C/C++ kernels compiled at run time for the CPU, called on tensors (a read-only helper of
recursor's kernel tasks; the candidate imports it, it never changes it).

    import ckernel
    lib = ckernel.compile(r'''
        #include <math.h>
        void gelu(const float* x, float* y, long n) {
            #pragma omp parallel for simd
            for (long i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678f));
        }
    ''', {"gelu": "void(float*, float*, int64)"})
    y = torch.empty_like(x)
    lib.gelu(x, y, x.numel())

`compile` builds the source with gcc (`g++` for lang="c++", `nvcc` for lang="cuda": kernels
with `extern "C"` host launchers, which then take CUDA tensors) into a shared library in the
scratch folder, once per source and flags, and returns an object with one callable per declared
function. Arguments are checked against the declared signature: a `T*` takes a contiguous CPU
tensor of dtype T (its data pointer is passed), `int64`/`int32` an int, `float`/`double` a number.
A source that does not compile raises CompileError with the compiler's message. ctypes copies
nothing (and releases the GIL during the call): a call costs about a microsecond plus the kernel.

Vectorising: gcc vectorises a loop only if every call in it has a vector form: `fmaxf`,
`fminf` and `floorf` need `-ffast-math` (or write `a > b ? a : b` and pass
`-fno-trapping-math`); `expf` in a `#pragma omp simd` loop becomes glibc's vector expf with
`-ffast-math`; `-march=native` keeps 256-bit vectors unless given `-mprefer-vector-width=512`.
`-fopt-info-vec-missed` says why a loop was not vectorised.

Why not `torch.utils.cpp_extension.load_inline`: it includes torch's headers, so one build takes
tens of seconds, and every seed of every experiment builds afresh in its own scratch folder; a
plain C function builds in a fraction of a second. load_inline still works in a candidate.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import subprocess
import tempfile
import time

import torch

DEFAULT_FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared")
CUDA_FLAGS = ("-O3", "-shared", "-Xcompiler", "-fPIC")
COMPILE_SECONDS = [0.0]  # total time spent compiling in this process

_POINTERS = {"float": torch.float32, "double": torch.float64, "int64": torch.int64,
             "int32": torch.int32, "int": torch.int32, "long": torch.int64,
             "int8": torch.int8, "uint8": torch.uint8, "half": torch.float16,
             "bfloat16": torch.bfloat16, "void": None}
_SCALARS = {"int64": ctypes.c_int64, "long": ctypes.c_int64, "int32": ctypes.c_int32,
            "int": ctypes.c_int32, "float": ctypes.c_float, "double": ctypes.c_double}
_SIGNATURE = re.compile(r"^\s*(\w+)\s*\((.*)\)\s*$")


class CompileError(RuntimeError):
    """The compiler refused the source; the message is the compiler's."""


class _Function:
    def __init__(self, fn, name: str, signature: str, device: str = "cpu"):
        match = _SIGNATURE.match(signature)
        if not match:
            raise ValueError(f"{name}: signature {signature!r} is not like 'void(float*, int64)'")
        restype, params = match.groups()
        self.name, self.fn, self.device = name, fn, device
        self.params = [p.strip().replace("const ", "") for p in params.split(",") if p.strip()]
        argtypes = []
        for p in self.params:
            if p.endswith("*"):
                if p[:-1].strip() not in _POINTERS:
                    raise ValueError(f"{name}: unknown pointer type {p!r}")
                argtypes.append(ctypes.c_void_p)
            elif p in _SCALARS:
                argtypes.append(_SCALARS[p])
            else:
                raise ValueError(f"{name}: unknown parameter type {p!r}")
        fn.argtypes = argtypes
        fn.restype = None if restype == "void" else _SCALARS[restype]

    def __call__(self, *args):
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments, got {len(args)}")
        converted = []
        for i, (p, a) in enumerate(zip(self.params, args, strict=True)):
            if p.endswith("*"):
                if not isinstance(a, torch.Tensor):
                    raise TypeError(f"{self.name}: argument {i} must be a tensor ({p})")
                want = _POINTERS[p[:-1].strip()]
                if want is not None and a.dtype != want:
                    raise TypeError(f"{self.name}: argument {i} is {a.dtype}, declared {p}")
                if a.device.type != self.device or not a.is_contiguous():
                    raise TypeError(f"{self.name}: argument {i} must be a contiguous "
                                    f"{self.device} tensor")
                converted.append(a.data_ptr())
            else:
                converted.append(a)
        return self.fn(*converted)


def _denormals_flushed() -> bool:
    return torch.full((1,), 1e-40).item() == 0.0


class Library:
    def __init__(self, path: str, functions: dict[str, str], device: str = "cpu"):
        self.path = path
        flushed = _denormals_flushed()
        self._lib = ctypes.CDLL(path)
        if not flushed and _denormals_flushed():
            # gcc links a library built with -ffast-math with crtfastmath.o, which sets the
            # loading thread's flush-to-zero and denormals-are-zero bits when it loads: the
            # rest of the process (the reference timed beside the kernel) keeps IEEE denormals
            torch.set_flush_denormal(False)
        for name, signature in functions.items():
            setattr(self, name, _Function(getattr(self._lib, name), name, signature, device))


def compile(source: str, functions: dict[str, str], *, lang: str = "c",  # noqa: A001
            flags: tuple[str, ...] | None = None, extra_flags: tuple[str, ...] = (),
            load: bool = True) -> Library | str:
    """Build `source` once (per source and flags) and load it; see the module's docstring.
    `load=False` only builds, and returns the library's path (a CUDA source compiles on a
    machine without a GPU, which cannot load it)."""
    compiler = {"c": "gcc", "c++": "g++", "cuda": "nvcc"}[lang]
    if flags is None:
        flags = CUDA_FLAGS if lang == "cuda" else DEFAULT_FLAGS
    args = [*flags, *extra_flags]
    key = hashlib.sha256("\0".join([compiler, source, *args]).encode()).hexdigest()[:16]
    build = os.path.join(tempfile.gettempdir(), "ckernel-build")
    os.makedirs(build, exist_ok=True)
    lib = os.path.join(build, f"k{key}.so")
    if not os.path.exists(lib):
        src = os.path.join(build, f"k{key}.{ {'c': 'c', 'c++': 'cpp', 'cuda': 'cu'}[lang] }")
        with open(src, "w") as f:
            f.write(source)
        t0 = time.perf_counter()
        done = subprocess.run([compiler, *args, src, "-o", lib + ".tmp", "-lm"],
                              capture_output=True, text=True)
        COMPILE_SECONDS[0] += time.perf_counter() - t0
        if done.returncode != 0:
            raise CompileError(f"{compiler} failed (exit {done.returncode}):\n"
                               + done.stderr[-4000:])
        os.replace(lib + ".tmp", lib)
    if not load:
        return lib
    return Library(lib, functions, "cuda" if lang == "cuda" else "cpu")
