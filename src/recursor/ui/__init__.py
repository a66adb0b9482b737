"""The local web dashboard, `recursor ui`: runs, lineage trees, node pages, live updates.

Needs the `ui` extra (`pip install 'recursor[ui]'`: FastAPI, uvicorn, Jinja2); nothing else in
recursor imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app"]

if TYPE_CHECKING:
    from recursor.ui.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from recursor.ui.app import create_app

        return create_app
    raise AttributeError(f"module 'recursor.ui' has no attribute {name!r}")
