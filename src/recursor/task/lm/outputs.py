"""What predict must return, read strictly, and the score the harness computes from it.

The contract: a `.npy` file holding exactly a real float32 or float64 array (native byte order)
of shape (windows, width, 256), finite everywhere, probes and unscored positions included.
Anything else fails the experiment with the reason: a NaN would switch comparisons off (`diff >
worst` is false for NaN), a complex array cast to real loses what it hid in the imaginary part,
a float16 or integer array rounds away what the checks compare, a pickled object runs code in
the harness. Nothing is converted, clipped or repaired first.
"""

from __future__ import annotations

import math
import os

import numpy as np

from recursor.harness import HarnessError

VOCAB = 256
DTYPES = (np.dtype("<f4"), np.dtype("<f8")) if np.little_endian else (np.dtype(">f4"),
                                                                        np.dtype(">f8"))
HEADER_SLACK = 1 << 16  # a .npy header is at most 64 KiB


class ContractError(HarnessError):
    """predict's output is not exactly what the contract asks."""

    def __init__(self, what: str, detail: str):
        super().__init__(f"{what} breaks the output contract: {detail}")


def read_logits(path: str, n_windows: int, width: int, what: str = "predict") -> np.ndarray:
    """The logits predict wrote to `path`, checked against the contract (else ContractError)."""
    expected = (n_windows, width, VOCAB)
    if not os.path.isfile(path):
        raise ContractError(what, "it wrote no logits file")
    largest = math.prod(expected) * 8 + HEADER_SLACK
    size = os.path.getsize(path)
    if size > largest:
        raise ContractError(what, f"its logits file has {size} bytes, more than any array of "
                            f"shape {expected} can take")
    try:
        logits = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ContractError(what, f"its logits file is not one .npy array ({err})") from None
    if not isinstance(logits, np.ndarray):  # an .npz archive loads as a mapping
        raise ContractError(what, f"its logits file holds a {type(logits).__name__}, not one "
                            "array")
    if logits.dtype not in DTYPES:
        raise ContractError(what, f"dtype {logits.dtype.str} ({logits.dtype}); expected "
                            "float32 or float64 in native byte order")
    if logits.shape != expected:
        raise ContractError(what, f"shape {logits.shape}, expected {expected}")
    finite = np.isfinite(logits)
    if not finite.all():
        bad = np.argwhere(~finite)
        window, position, _ = bad[0]
        raise ContractError(what, f"{len(bad)} non-finite value(s), the first in window "
                            f"{window} at position {position} (every value must be finite: "
                            "training diverged, or values were masked)")
    return logits


def bits_per_byte(logits: np.ndarray, windows: np.ndarray) -> float:
    """Mean next-byte cross-entropy in bits, with the harness's own log-softmax (so that a
    program cannot return unnormalised scores)."""
    if len(windows) == 0:
        return math.nan
    logits = logits[:, :-1].astype(np.float64)
    targets = windows[:, 1:].astype(np.int64)
    top = logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return float((log_z - picked).mean() / math.log(2))
