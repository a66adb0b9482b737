"""Running the candidate's program as a command line, from a writable copy of its own folder.

Many programs read and write files relative to their folder (nanoGPT's `configurator.py`, its
`data/` and `out/`). Under bwrap the workspace recursor gives (`config["workspace"]`) is
read-only and the program would start in the scratch folder, so `Program` copies the workspace
into the scratch folder (`work/`) and starts every command there.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from recursor.harness.errors import NoSandbox
from recursor.harness.process import child_env, run_child

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
PYTHON = re.compile(r"^(\{python\}|python(\d+(\.\d+)?)?)$")
CODE = (".py", ".pyc", ".pyo", ".so", ".pth")  # what Python would import or run from a folder
LINE_BYTES = 1 << 16  # a longer line is cut: the program's output is untrusted
# the POSIX shell is there in every sandbox kind; `exec` leaves no shell process behind
IN_FOLDER = ["/bin/sh", "-c", 'cd "$1" || exit 126; shift; exec "$@"', "sh"]


def placeholders(template: str) -> set[str]:
    """The `{name}` placeholders of a command template (`{{` and `}}` are literal braces)."""
    return {m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1)}


def command(template: str, values: Mapping[str, Any]) -> list[str]:
    """The argv of a command template: split as a POSIX shell would (it never runs in one), each
    `{name}` replaced by `values[name]`, and a leading `python`, `python3` or `{python}` made
    recursor's own interpreter (the one the harness runs with: it has torch and numpy, and the
    sandbox shows it). Raises ValueError naming a placeholder that has no value."""
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        if name not in values:
            raise ValueError(f"the command {template!r} names {{{name}}}, which is none of "
                             f"{', '.join('{' + k + '}' for k in sorted(values))}")
        return str(values[name])

    argv = shlex.split(template)
    if argv and PYTHON.match(argv[0]):
        argv[0] = sys.executable
    return [PLACEHOLDER.sub(replace, arg) for arg in argv]


def run_program(argv: Sequence[str], config: Mapping[str, Any], *, cwd: str, seconds: float,
                what: str, log: IO[bytes], on_line: Callable[[str], None] | None = None,
                pass_fds: Sequence[int] = (), env: Mapping[str, str] | None = None
                ) -> dict[str, Any]:
    """Run `argv` in the sandbox of `config`, started in `cwd` (under every sandbox kind), for
    at most `seconds` of wall clock; its output goes to `log`, and each line of it to `on_line`
    too (a `RegexCurve`, say). Returns the sandbox init's usage report (cpu, wall, max_rss_mb,
    strays); raises Overtime past the cap and HarnessError when the program fails."""
    env = env or child_env(config["scratch"], config["limits"]["threads"])
    out_r, out_w = os.pipe()
    try:
        _, watch = run_child([*IN_FOLDER, cwd, *argv], cwd, env, seconds, what, out_w,
                             config.get("sandbox"), pass_fds)
    except BaseException:
        os.close(out_r)
        raise
    finally:
        os.close(out_w)
    pump = threading.Thread(target=_pump, args=(out_r, log, on_line), daemon=True)
    pump.start()
    try:
        return watch.wait()
    finally:
        pump.join(timeout=5)  # the program and all it started are gone: the pipe has ended


def _pump(fd: int, log: IO[bytes], on_line: Callable[[str], None] | None) -> None:
    """The program's output into the log as it comes, and line by line to `on_line`."""
    pending = b""
    with os.fdopen(fd, "rb") as pipe:
        for chunk in iter(lambda: pipe.read1(1 << 16), b""):
            log.write(chunk)
            log.flush()
            if on_line is None:
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > LINE_BYTES:
                lines.append(pending[:LINE_BYTES])
                pending = b""
            for line in lines:
                _feed(on_line, line[:LINE_BYTES])
    if on_line is not None and pending:
        _feed(on_line, pending)


def _feed(on_line: Callable[[str], None], line: bytes) -> None:
    # progress lines often end in \r (a bar redrawn in place): the last redraw counts
    on_line(line.decode(errors="replace").rstrip("\r").rsplit("\r", 1)[-1])


def remove(path: str) -> None:
    """Remove whatever is at `path` (file, folder or link), never following a link: the harness
    runs outside the sandbox, and a link the program left would take it anywhere."""
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def fresh_folder(path: str) -> str:
    """An empty folder at `path`, whatever the program left there; its path."""
    remove(path)
    os.makedirs(path)
    return path


def working_copy(config: Mapping[str, Any], name: str = "work",
                 assets: str | None = None) -> str:
    """A writable copy of the program's files in the scratch folder, made afresh, with the
    files of the folder `assets` (data the program reads, kept by the task outside its
    program files) put in at their paths; its path."""
    folder = os.path.join(config["scratch"], name)
    remove(folder)
    shutil.copytree(config["workspace"], folder)
    if assets and os.path.isdir(assets):
        _put_back(assets, folder)
    return folder


def restore_program(config: Mapping[str, Any], folder: str, assets: str | None = None) -> None:
    """Put the program's own files (and the assets) back in `folder` as they were given, keep
    what a run wrote there (its checkpoint), and remove the code it wrote.

    So a run cannot hand the next one code of its own: not by rewriting the program's files,
    not by a link in the place of a file or a folder (which would also send this copy outside
    the scratch folder), and not by code that Python would import in place of a program file:
    a package folder or an extension module of the same name, or bytecode in `__pycache__`
    made to match the source's size and time. Every `__pycache__` folder, and every .py, .pyc,
    .pyo, .so and .pth file that is not one of the program's, goes."""
    if os.path.islink(folder) or not os.path.isdir(folder):
        fresh_folder(folder)
    own = _put_back(config["workspace"], folder)
    if assets and os.path.isdir(assets):
        own |= _put_back(assets, folder)
    for root, dirs, files in os.walk(folder):
        for name in [d for d in dirs if d == "__pycache__"]:
            remove(os.path.join(root, name))
            dirs.remove(name)
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), folder)
            if name.endswith(CODE) and rel not in own:
                os.remove(os.path.join(root, name))


def _put_back(source_folder: str, folder: str) -> set[str]:
    """Copy every file of `source_folder` into `folder` at its path; their relative paths."""
    done = set()
    for root, _, files in os.walk(source_folder):
        for name in files:
            source = os.path.join(root, name)
            target = os.path.join(folder, os.path.relpath(source, source_folder))
            _real_folders(folder, os.path.dirname(target))
            remove(target)
            shutil.copy2(source, target)
            done.add(os.path.relpath(target, folder))
    return done


def _real_folders(top: str, folder: str) -> None:
    """Make `folder` (inside `top`) and each folder on the way real folders again."""
    rel = os.path.relpath(folder, top)
    path = top
    for part in ([] if rel == "." else rel.split(os.sep)):
        path = os.path.join(path, part)
        if os.path.islink(path) or os.path.isfile(path):
            os.remove(path)
        os.makedirs(path, exist_ok=True)


class Program:
    """The candidate's program, run command by command in the sandbox, each started in the same
    writable copy of its folder (`folder`, with the files of `assets` put in at their paths):
    what one command writes there (a checkpoint) the next finds; `restore()` puts the
    program's own files and the assets back between them."""

    def __init__(self, config: Mapping[str, Any], log: IO[bytes], assets: str | None = None):
        if not config.get("sandbox") or not config["sandbox"].get("prefix"):
            raise NoSandbox()
        self.config, self.log, self.assets = config, log, assets
        self.folder = working_copy(config, assets=assets)
        self.env = child_env(config["scratch"], config["limits"]["threads"])

    def run(self, argv: Sequence[str], *, seconds: float, what: str,
            on_line: Callable[[str], None] | None = None,
            pass_fds: Sequence[int] = ()) -> dict[str, Any]:
        """`run_program` in the program's folder; the init's usage report."""
        return run_program(argv, self.config, cwd=self.folder, seconds=seconds, what=what,
                           log=self.log, on_line=on_line, pass_fds=pass_fds, env=self.env)

    def restore(self) -> None:
        restore_program(self.config, self.folder, self.assets)
