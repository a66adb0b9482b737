"""Audits any harness can make from the sandbox init's usage report of a run of the program."""

from __future__ import annotations

from collections.abc import Mapping

from recursor.harness.results import finding

THREAD_SLACK = 1.25  # cpu <= threads * wall * slack + 0.5 s (interpreter start, GC threads)
HELPER_SHARE = 0.25  # threads besides the main one: (threads - 1 + this) * wall + 0.5 s


def usage_findings(stage: str, report: Mapping, threads: int) -> list[dict]:
    """budget.processes (the run left processes behind) and budget.threads (it used more CPU
    than its `threads` allow: work hidden in extra threads or processes), from the init's
    report of one run; `stage` names the run in the messages."""
    found = []
    strays = report.get("strays", 0)
    if strays:
        found.append(finding(
            "budget.processes",
            f"{stage} left {strays} process(es) running after it exited; they were killed",
            f"strays={strays}"))
    cpu, wall = report.get("cpu"), report.get("wall")
    if cpu is not None and wall and cpu > threads * wall * THREAD_SLACK + 0.5:
        found.append(finding(
            "budget.threads",
            f"{stage} used {cpu:.1f} s of CPU in {wall:.1f} s of wall time, more than its "
            f"{threads} thread(s) allow: work hidden in extra threads or processes",
            f"cpu={cpu:.2f} wall={wall:.2f} threads={threads}"))
        return found
    main = report.get("main_cpu")
    if cpu is not None and main is not None and wall:
        extra = cpu - main
        if extra > (threads - 1 + HELPER_SHARE) * wall + 0.5:
            found.append(finding(
                "budget.threads",
                f"{stage}'s other threads and processes used {extra:.1f} s of CPU beside its "
                f"main thread's {main:.1f} s, in {wall:.1f} s of wall time: more than its "
                f"{threads} thread(s) allow (work hidden in extra threads or processes)",
                f"cpu={cpu:.2f} main_cpu={main:.2f} wall={wall:.2f} threads={threads}"))
    return found
