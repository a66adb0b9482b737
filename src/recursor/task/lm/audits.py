"""The harness's audits of a language-model program, from what its runs showed: findings.

- budget.processes, budget.threads: from the sandbox init's usage report of each run (the
  kit's `recursor.harness.usage_findings`);
- budget.evaluation: predicting is inference. Its CPU is bounded by the parent's own predict
  CPU times a factor (a model up to that many times as costly per window), not by training's:
  training hidden in predict shows as predict costing more than the parent's model needed.
  Not scaled by the change in training's cost: a program could burn CPU in training (which
  only its wall-clock cap bounds) to buy itself room in predict;
- causality: each probe's logits before its cut must equal those of the window it was made from;
- batch-independence: each repeated window's logits must equal those of its first copy, which
  another call with other windows predicted.

Logits are compared with `not (diff <= tolerance)`, so that no NaN can pass a comparison (the
output contract already refuses non-finite logits; this holds even without it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import median

import numpy as np

from recursor.harness import finding, usage_findings

TOLERANCE = 1e-3  # logits may differ by float noise between two batch layouts
usage = usage_findings  # budget.processes and budget.threads, the kit's: any harness has them


def reference_cpu(parent_usage: Sequence[Mapping], stage: str) -> float | None:
    """The parent's typical CPU seconds in `stage` over its runs (median), if it has any."""
    values = [u[stage]["cpu"] for u in parent_usage
              if isinstance(u.get(stage), Mapping) and isinstance(u[stage].get("cpu"), int | float)]
    return median(values) if values else None


def evaluation_cost(predict_cpu: float | None, parent_usage: Sequence[Mapping], factor: float,
                    floor: float) -> list[dict]:
    """budget.evaluation: predict's CPU against the parent's, allowed = factor x parent's
    predict CPU + floor. With no parent measured (the baseline is the task's own program)
    there is nothing to compare with, and no finding."""
    parent_predict = reference_cpu(parent_usage, "predict")
    if predict_cpu is None or parent_predict is None:
        return []
    allowed = factor * parent_predict + floor
    if predict_cpu <= allowed:
        return []
    return [finding(
        "budget.evaluation",
        f"predict used {predict_cpu:.1f} s of CPU where its parent's model needed "
        f"{parent_predict:.1f} s (allowed: {factor:g}x that + {floor:g} s): predicting is one "
        "forward pass per window, and work beyond it is training hidden in the evaluation (a "
        "model that much costlier grows there in steps, each one accepted)",
        f"predict_cpu={predict_cpu:.2f} parent_predict_cpu={parent_predict:.2f} "
        f"allowed={allowed:.2f}")]


def causality(logits: np.ndarray, probes: Sequence[tuple[int, int, int]]) -> list[dict]:
    """Logits before each cut must not change when only bytes from the cut on changed."""
    worst, where, broken = 0.0, None, 0
    for row, original, cut in probes:
        diff = np.abs(logits[original, :cut].astype(np.float64)
                      - logits[row, :cut].astype(np.float64)).max()
        if not diff <= TOLERANCE:
            broken += 1
            if where is None or not diff <= worst:
                worst, where = float(diff), (row, original, cut)
    if where is None:
        return []
    row, original, cut = where
    return [finding(
        "causality",
        "predictions at earlier positions changed when only later bytes changed: the model "
        "sees the future it is asked to predict",
        f"{broken} of {len(probes)} probes moved; worst: window {original} with its bytes from "
        f"position {cut} on replaced (row {row}, another call): logits before {cut} moved by up "
        f"to {worst:.3g} (tolerance {TOLERANCE:g})")]


def independence(logits: np.ndarray, repeats: Sequence[tuple[int, int]]) -> list[dict]:
    """The same window predicted in two calls, among other windows, must get the same logits."""
    worst, where, broken = 0.0, None, 0
    for row, original in repeats:
        diff = np.abs(logits[original].astype(np.float64)
                      - logits[row].astype(np.float64)).max()
        if not diff <= TOLERANCE:
            broken += 1
            if where is None or not diff <= worst:
                worst, where = float(diff), (row, original)
    if where is None:
        return []
    row, original = where
    return [finding(
        "batch-independence",
        "the same window got different predictions in two calls that held other windows: "
        "its score depends on what it was predicted with (statistics, adaptation or lookups "
        "over the batch)",
        f"{broken} of {len(repeats)} repeated windows moved; worst: window {original} (rows "
        f"{original} and {row}, two calls): logits differ by up to {worst:.3g} "
        f"(tolerance {TOLERANCE:g})")]
