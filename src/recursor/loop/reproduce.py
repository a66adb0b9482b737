"""`recursor reproduce DISCOVERY`: run a discovery again, from its record alone, on fresh seeds.

The discovery's folder holds the task as it was, with the parent's program in place of the
baseline, and the patch. Reproducing is a trial (`recursor try`) of that patch on that program,
with the full judge and auditor, on seeds the original run never used: the task's seeds are
moved to `seed_base + 1 ...` and the confirmation seeds to `seed_base + 1_000_000 + ...`.
The discovery holds when the trial accepts it again. The trial's run folder is kept, as evidence.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from recursor.discoveries.store import DiscoveryLibrary, LibraryError
from recursor.loop.trial import try_patches
from recursor.task import load_task

SEED_BASE = 2_000_000  # far from the task's own seeds and from the first runs' fresh seeds


def reproduce(ref: str, *, library: Path | str | None = None, run_dir: Path | str | None = None,
              seed_base: int = SEED_BASE, workers: int | None = None, sandbox: str = "auto",
              heldout: bool = True, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Re-run discovery `ref` (an id or its prefix) on fresh seeds; whether it holds, with the
    recorded and the new evidence side by side."""
    lib = DiscoveryLibrary(library)
    d = lib.get(ref)
    folder = lib.folder(d)
    task_dir = folder / "task"
    if not task_dir.is_dir():
        raise LibraryError(f"discovery {d.short} has no task folder to run ({task_dir}): it "
                           "cannot be reproduced from its record")
    spec = load_task(task_dir, d.overrides).spec
    n_seeds = len(spec.seeds.values)
    # a discovery made optimising a secondary metric is judged on that metric again
    objective = d.metric if d.metric != spec.metric.name else None
    moved = {"seeds.values": [seed_base + k for k in range(1, n_seeds + 1)],
             "seeds.fresh_base": seed_base + 1_000_000}
    run_dir = Path(run_dir) if run_dir else Path("runs") / (
        f"reproduce-{d.short}-{time.strftime('%Y%m%d-%H%M%S')}")
    (verdict,) = try_patches(task_dir, [d.patch], run_dir=run_dir, workers=workers,
                             overrides={**d.overrides, **(overrides or {}), **moved},
                             sandbox=sandbox, heldout=heldout, objective=objective)
    recorded = d.evidence.get("verdict", {})
    return {
        "discovery": d.id,
        "title": d.title,
        "task": d.task,
        "holds": verdict["status"] == "accepted",
        "recorded": {"effect": recorded.get("effect"), "ci95": recorded.get("ci95"),
                     "p_value": recorded.get("p_value"),
                     "seeds": sorted(int(s) for s in d.evidence.get("seeds", {}))},
        "now": verdict,
        "run_dir": str(run_dir),
    }
