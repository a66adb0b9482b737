"""recursor: automated AI research with verdicts that survive noise.

`import recursor` only defines names: the API loads on first use, so that the small processes
recursor starts (e.g. the experiment launcher) stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Run", "__version__", "export", "log_mlflow", "open_run", "reproduce", "resume", "run",
           "try_patch", "try_patches"]

if TYPE_CHECKING:
    from recursor.api import Run, export, log_mlflow, open_run, reproduce, resume, run, try_patch, try_patches


def __getattr__(name: str) -> Any:
    if name in ("Run", "export", "log_mlflow", "open_run", "reproduce", "resume", "run",
                "try_patch", "try_patches"):
        from recursor import api

        return getattr(api, name)
    raise AttributeError(f"module 'recursor' has no attribute {name!r}")
