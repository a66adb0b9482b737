"""The dashboard served from a background thread: for notebooks, tests and the screenshot script.

    with serving(Path("runs")) as url:      # a free loopback port
        webbrowser.open(url)

`recursor ui` serves in the foreground instead (uvicorn.run).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from recursor.errors import RecursorError
from recursor.ui.app import create_app


@contextlib.contextmanager
def serving(root: Path | str, host: str = "127.0.0.1", port: int = 0,
            poll_seconds: float = 3.0, timeout: float = 20.0) -> Iterator[str]:
    """Serve the dashboard of `root` until the block ends; yields its base URL. Port 0 takes a
    free port, read back from the bound socket (no race with another process picking it)."""
    config = uvicorn.Config(create_app(root, poll_seconds=poll_seconds), host=host, port=port,
                            log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="recursor-ui", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RecursorError(f"the dashboard did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield f"http://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout)
