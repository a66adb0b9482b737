"""Start a command under the limits of one experiment, then become it (exec).

    python -m recursor.executor.launch --memory-mb 4096 -- harness argv...

Limits are set here rather than in a `preexec_fn`, which is unsafe in a process with threads
(the executor's pool). The kernel enforces them on the command and on everything it starts:
an address-space cap (so a runaway allocation fails inside the experiment, not the machine) and
no core dumps; and on Linux the command is killed if recursor itself dies, so a killed run
leaves no experiment running on its own.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="recursor.executor.launch")
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--parent", type=int, default=0, help="pid whose death ends the command")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    limit = args.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # the parent may have died between our fork and the prctl
        if args.parent and os.getppid() != args.parent:
            os._exit(137)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
