"""What a run was asked to do (`RunConfig`, defined with every other setting in
recursor.settings) and the defaults that depend on the machine."""

from __future__ import annotations

import os

from recursor.settings import DEFAULT_EXPERIMENTS, RunConfig

__all__ = ["DEFAULT_EXPERIMENTS", "RunConfig", "default_workers"]


def default_workers(threads: int, memory_mb: int) -> int:
    """As many experiments as the machine has cores and memory for."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    by_cpu = max(1, (cores or 1) // threads)
    try:
        avail_mb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20
        by_memory = max(1, int(avail_mb * 0.8) // memory_mb)
    except (ValueError, OSError):
        by_memory = by_cpu
    return max(1, min(by_cpu, by_memory))
