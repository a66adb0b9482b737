"""The sandbox the harness starts the candidate's untrusted program in.

The harness is trusted and reads the data; the program (`train.py`) is written by a proposer,
possibly an LLM, and must not be able to read the validation data, write outside its scratch
folder, reach the network, or leave processes behind. This module says which sandbox this
machine can give and builds the argv prefix the harness puts before the program:

    [*sandbox.prefix(writable=..., readonly=..., memory_mb=..., cpu_seconds=...),
     str(report_fd), "--", *program_argv]

The prefix always ends with `[python, .../sandbox_init.py, ...options..., "--report-fd"]`: the
init (see `sandbox_init`) sets the memory and CPU caps, runs the program, kills whatever it
leaves behind and writes one JSON line of accounting to the report fd.

Kinds, strongest first (`detect("auto")` takes the strongest that really runs here):

- `bwrap` (bubblewrap): new user, mount, network, pid, IPC, UTS and cgroup namespaces; only the
  system libraries, the Python installation and the given paths are visible; no capabilities.
- `unshare` (util-linux): no network and a pid namespace of its own, but the same file system.
- `none`: only the init: memory and CPU caps and the cleanup of leftover processes.

Linux only; elsewhere only `none` is offered.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

from recursor.errors import SandboxError

KINDS = ("bwrap", "unshare", "none")
INIT = Path(__file__).resolve().with_name("sandbox_init.py")
INSTALL_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "install-sandbox.sh"
PROBE_SECONDS = 20.0  # a working sandbox starts in well under a second; a broken one fails fast
TMP_MB = 256  # the sandbox's own /tmp and /dev/shm are in RAM: capped so they cannot fill it
SCRATCH_TMPFS = ("/tmp", "/dev/shm")  # fresh, private and writable in the bwrap sandbox
PROTECTION_KEYS = ("network", "filesystem", "processes", "environment", "memory", "cpu_time")

# /etc is not bound whole: it holds /etc/shadow and keys. Only what the C library and Python
# read to start, to resolve a user name (torch asks) and to know the time zone.
ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd",
    "group", "hosts", "host.conf", "os-release", "alternatives", "protocols", "services",
    "mime.types",
)
# the CPU topology torch's cpuinfo reads (it warns at every import when it is missing)
SYS_PATHS = ("/sys/devices/system/cpu", "/sys/devices/system/node")

# bwrap features that harden the sandbox but that an older bwrap (Ubuntu 22.04 has 0.6) or a
# setuid install may refuse. `detect` probes them all first, then drops them in this order, and
# keeps the first set that works:
#   disable-userns: no nested user namespace inside, so no way to regain capabilities (0.8)
#   tmpfs-size: /tmp and /dev/shm capped at TMP_MB, so they cannot fill the RAM
#   cap-drop: run as root, bwrap would otherwise keep every capability inside
BWRAP_FEATURES = ("disable-userns", "tmpfs-size", "cap-drop")


def _install_hint() -> str:
    script = INSTALL_SCRIPT if INSTALL_SCRIPT.is_file() else Path("scripts/install-sandbox.sh")
    return f"run `sh {script}` (or `apt-get install bubblewrap`)"


@dataclasses.dataclass(frozen=True)
class Sandbox:
    """One kind of sandbox, as verified on this machine. Build argv prefixes with `prefix`."""

    kind: str
    python: str = sys.executable
    tool: str = ""  # absolute path of bwrap or unshare, found when detected
    # bwrap only: the BWRAP_FEATURES this bwrap accepted when probed
    bwrap_features: tuple[str, ...] = ()
    # a weaker kind chosen by "auto": why bwrap was not taken, so the fix offered is the right one
    bwrap_problem: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SandboxError(f"unknown sandbox kind {self.kind!r}: expected one of {KINDS}")

    def protections(self) -> dict[str, bool]:
        """What the program is kept from, by key (see `describe` for the words).

        network: cannot open connections, not even to 127.0.0.1 outside.
        filesystem: sees only the system, the Python installation and the paths given.
        processes: signals only its own processes (under bwrap, sees only them too); all die
            with the sandbox. (Under unshare a program that unmounts its /proc can still list
            the machine's processes and their command lines.)
        environment: cannot read other processes' environment (the harness's config path,
            recursor's keys) through /proc/<pid>/environ.
        memory, cpu_time: an address-space cap and a CPU-time cap, per process.
        """
        isolated = self.kind in ("bwrap", "unshare")
        given = {"network": isolated, "filesystem": self.kind == "bwrap", "processes": isolated,
                 "environment": isolated, "memory": True, "cpu_time": True}
        return {key: given[key] for key in PROTECTION_KEYS}

    def describe(self) -> str:
        """One honest line: what the program is kept from, and plainly what it is not."""
        caps = "memory and CPU time are capped per process, leftover processes are killed"
        if self.kind == "bwrap":
            missing = [f for f in BWRAP_FEATURES if f not in self.bwrap_features]
            privileges = "and has no capabilities"
            if "cap-drop" in missing and os.geteuid() == 0:
                privileges = "but keeps root's capabilities inside"
            lacks = f" (this bwrap lacks: {', '.join(missing)})" if missing else ""
            return (
                "bwrap: no network; the file system shows only the system libraries, the Python "
                "installation and the paths given (read-only unless writable); the program sees "
                f"only its own processes {privileges}; {caps}{lacks}"
            )
        if self.bwrap_problem and "not installed" not in self.bwrap_problem:
            fix = f"bwrap is installed but fails here ({self.bwrap_problem})"
        else:
            fix = _install_hint()
        if self.kind == "unshare":
            return (
                "unshare: no network; the program can signal only its own processes; the file "
                "system is NOT isolated (the program can read and write what your user can, data "
                f"included); {caps}. For full isolation: {fix}"
            )
        return (
            "none: NOT isolated: the program has the network, can read and write what your user "
            "can (data included), and can see and signal your other processes; only "
            f"{caps}. For isolation: {fix}"
        )

    def prefix(
        self, *, writable: list[str], readonly: list[str], memory_mb: int, cpu_seconds: int
    ) -> list[str]:
        """The argv to put before `[str(report_fd), "--", *program_argv]`.

        `writable` paths are visible read-write (the first is the working directory under
        bwrap), `readonly` paths read-only; under bwrap nothing else of the user's files is
        visible. Paths must exist when the command runs (bwrap refuses a missing one, loudly).
        `memory_mb` / `cpu_seconds` of 0 mean no cap.
        """
        init = [
            self.python, str(INIT),
            "--memory-mb", str(int(memory_mb)), "--cpu-seconds", str(int(cpu_seconds)),
            "--report-fd",
        ]
        if self.kind == "bwrap":
            # the sandbox's own /tmp, /dev/shm and IPC namespace: emptied after each run, so
            # that runs of one sandbox share nothing (the host's are never touched)
            fresh = [arg for path in SCRATCH_TMPFS for arg in ("--fresh", path)]
            init[2:2] = [*fresh, "--fresh-ipc"]
        if self.kind == "none":
            # no pid namespace will take the program's children down if the init is killed
            # first: keep them in the caller's process group, which the caller's kill reaches
            return [*init[:2], "--group", "inherit", *init[2:]]
        if self.kind == "unshare":
            # --map-root-user: the namespaces belong to a new user namespace, so this works
            # without root; --mount-proc: /proc shows only the sandbox's processes (and its pids
            # are the ones the init kills); --kill-child: the sandbox dies with unshare
            return [
                self.tool or _which("unshare"), "--user", "--map-root-user", "--net", "--pid",
                "--fork", "--kill-child", "--mount-proc", *init,
            ]
        return [self.tool or _which("bwrap"), *self._bwrap_args(writable, readonly), *init]

    def harness_config(
        self, *, writable: list[str], readonly: list[str], memory_mb: int, cpu_seconds: int
    ) -> dict:
        """What the harness needs, JSON-serialisable: the kind, its description, the prefix."""
        return {
            "kind": self.kind,
            "describe": self.describe(),
            "protections": self.protections(),
            "prefix": self.prefix(
                writable=writable, readonly=readonly, memory_mb=memory_mb,
                cpu_seconds=cpu_seconds,
            ),
        }

    def _bwrap_args(self, writable: list[str], readonly: list[str]) -> list[str]:
        features = self.bwrap_features
        args = [
            "--unshare-all",  # user, mount, net, pid, ipc, uts, cgroup
            *(["--unshare-user", "--disable-userns"] if "disable-userns" in features else []),
            *(["--cap-drop", "ALL"] if "cap-drop" in features else []),
            "--die-with-parent",  # the sandbox goes when the harness goes
            "--new-session",  # no controlling terminal to push keystrokes into
            "--hostname", "sandbox",
        ]
        # (destination, bwrap op); ordered below so that a path inside another one is mounted
        # after it and stays visible
        mounts: list[tuple[str, list[str]]] = []
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            host = Path("/") / name
            if host.is_symlink():  # merged /usr: /bin -> usr/bin
                mounts.append((str(host), ["--symlink", os.readlink(host), str(host)]))
            elif host.is_dir():
                mounts.append((str(host), ["--ro-bind", str(host), str(host)]))
        mounts.append(("/usr", ["--ro-bind", "/usr", "/usr"]))
        for name in ETC_FILES:
            host = Path("/etc") / name
            if host.is_symlink():
                mounts.append((str(host), ["--symlink", os.readlink(host), str(host)]))
            elif host.exists():
                mounts.append((str(host), ["--ro-bind", str(host), str(host)]))
        for path in SYS_PATHS:
            mounts.append((path, ["--ro-bind-try", path, path]))
        mounts.append(("/proc", ["--proc", "/proc"]))
        mounts.append(("/dev", ["--dev", "/dev"]))
        size = ["--size", str(TMP_MB << 20)] if "tmpfs-size" in features else []
        for path in SCRATCH_TMPFS:
            mounts.append((path, [*size, "--tmpfs", path]))
        binds: list[tuple[str, list[str]]] = []
        for path in python_paths(self.python):
            binds.extend(_bind("--ro-bind", path))
        binds.extend(_bind("--ro-bind", str(INIT)))
        for path in readonly:
            binds.extend(_bind("--ro-bind", path))
        for path in writable:
            binds.extend(_bind("--bind", path))
        # A bind under the private /tmp needs its parent folders made there, and the program
        # could write into them: data it would believe saved, and lose. Each such folder is a
        # tiny tmpfs of its own, made read-only once the binds are in, so a write beside the
        # given paths fails as loudly as anywhere else.
        skeleton = _skeleton([dest for dest, _ in binds])
        tiny = ["--size", str(1 << 20)] if "tmpfs-size" in features else []
        mounts.extend((path, [*tiny, "--tmpfs", path]) for path in skeleton)
        mounts.extend(binds)
        # shallow first; stable, so among equals the order above holds (writable wins last)
        mounts.sort(key=lambda m: len(Path(m[0]).parts))
        for _, op in mounts:
            args.extend(op)
        # the root tmpfs (where bwrap made the mount points) becomes read-only too; /tmp,
        # /dev/shm and the writable paths are mounts of their own and stay writable
        for path in ["/", *skeleton]:
            args.extend(["--remount-ro", path])
        if writable:
            args.extend(["--chdir", os.path.abspath(writable[0])])
        return args


def _skeleton(dests: list[str]) -> list[str]:
    """The folders bwrap must create inside a scratch tmpfs (/tmp) to reach the bind `dests`."""
    folders: set[str] = set()
    for dest in dests:
        top = next((t for t in SCRATCH_TMPFS if _inside(dest, t) and dest != t), None)
        if top is None:
            continue
        parent = os.path.dirname(dest)
        # up to the tmpfs, or to a bound folder: what is inside one comes from the host as is
        while parent != top and not any(_inside(parent, d) for d in dests):
            folders.add(parent)
            parent = os.path.dirname(parent)
    return sorted(folders)


def python_paths(python: str = sys.executable) -> list[str]:
    """The directories the running Python needs to start and import its packages (torch).

    The prefixes of the interpreter and of its venv, the site-packages, and the real paths
    behind any symlink (a venv's `bin/python` points into a pyenv or system install).
    """
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    paths.update(site.getsitepackages())
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    for entry in sys.path:  # site-packages brought in by .pth files or PYTHONPATH
        if entry and entry != user_site and Path(entry).name in ("site-packages", "dist-packages"):
            paths.add(entry)
    paths.add(str(Path(python).parent))
    out: set[str] = set()
    for path in paths:
        if path and os.path.isdir(path):
            out.add(os.path.abspath(path))
            out.add(os.path.realpath(path))
    # /usr is bound whole already; a path inside another one in the list needs no bind of its own
    kept = sorted(p for p in out if not _inside(p, "/usr"))
    return [p for p in kept if not any(q != p and _inside(p, q) for q in kept)]


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _bind(op: str, path: str) -> list[tuple[str, list[str]]]:
    """A bind of `path` at itself; where it goes through a symlink, at its real path too."""
    given = os.path.abspath(path)
    real = os.path.realpath(path)
    out = [(given, [op, real, given])]
    if real != given:
        out.append((real, [op, real, real]))
    return out


def _which(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise SandboxError(f"{name} is not installed: {_install_hint()}")
    return found


def _probe(sandbox: Sandbox) -> str | None:
    """Run `python -c pass` in the sandbox once; None when it works, else why it does not."""
    with tempfile.TemporaryDirectory(prefix="recursor-sandbox-probe-") as scratch:
        read_fd, write_fd = os.pipe()
        try:
            argv = [
                *sandbox.prefix(writable=[scratch], readonly=[], memory_mb=0, cpu_seconds=0),
                str(write_fd), "--", sandbox.python, "-c", "pass",
            ]
            try:
                proc = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                    timeout=PROBE_SECONDS, pass_fds=(write_fd,), env=_probe_env(scratch),
                )
            except (OSError, subprocess.SubprocessError) as err:
                return str(err)
            os.close(write_fd)
            write_fd = -1
            with os.fdopen(read_fd, "r") as pipe:
                read_fd = -1
                line = pipe.read()
        finally:
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
        if proc.returncode != 0 or '"exit": 0' not in line:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            return err[-1] if err else f"exit code {proc.returncode}, no report"
        return None


def _probe_env(scratch: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": scratch, "TMPDIR": scratch}
    env.update(LANG="C.UTF-8", PYTHONDONTWRITEBYTECODE="1")
    return env


def _verified(kind: str) -> tuple[Sandbox | None, str]:
    """The sandbox of this kind if it really runs here, else None and the reason."""
    if kind == "none":
        sandbox = Sandbox("none")
        problem = _probe(sandbox)
        return (sandbox, "") if problem is None else (None, problem)
    if not sys.platform.startswith("linux"):
        return None, f"{kind} needs Linux (this is {sys.platform})"
    tool = shutil.which(kind)
    if not tool:
        return None, f"{kind} is not installed (not found on PATH)"
    if kind == "unshare":
        sandbox = Sandbox("unshare", tool=tool)
        problem = _probe(sandbox)
        return (sandbox, "") if problem is None else (None, problem)
    # bwrap: the strongest flag set this bwrap and kernel accept
    problem = ""
    for n in range(len(BWRAP_FEATURES) + 1):
        sandbox = Sandbox("bwrap", tool=tool, bwrap_features=BWRAP_FEATURES[n:])
        found = _probe(sandbox)
        if found is None:
            return sandbox, ""
        problem = problem or found
    return None, problem


@functools.cache
def detect(prefer: str = "auto") -> Sandbox:
    """The sandbox to use: `prefer` if it works here, or with "auto" the strongest that does.

    Each kind is verified by running Python in it once (a bwrap that is installed but refused by
    the kernel, as in many containers, is not taken); the answer is cached for the process.
    Raises SandboxError naming the fix when an explicitly asked kind does not work.
    """
    if prefer == "auto":
        bwrap_problem = ""
        for kind in KINDS:
            sandbox, problem = _verified(kind)
            if sandbox is not None:
                return dataclasses.replace(sandbox, bwrap_problem=bwrap_problem)
            bwrap_problem = bwrap_problem or problem
        raise SandboxError(
            f"no sandbox works here, not even running {sys.executable} directly under "
            f"{INIT.name}; check that the Python installation is intact"
        )
    if prefer not in KINDS:
        raise SandboxError(
            f"unknown sandbox {prefer!r}: expected auto, {', '.join(KINDS)}"
        )
    sandbox, problem = _verified(prefer)
    if sandbox is not None:
        return sandbox
    if "not installed" in problem:
        fix = _install_hint() if prefer == "bwrap" else "install util-linux"
        raise SandboxError(f"{problem}: {fix}")
    if prefer == "bwrap":
        fix = (
            "bwrap is installed but cannot create its namespaces here: allow unprivileged user "
            "namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 also "
            "kernel.apparmor_restrict_unprivileged_userns=0), or in a container run it with "
            "--security-opt seccomp=unconfined --security-opt apparmor=unconfined"
        )
    elif prefer == "unshare":
        fix = "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
    else:
        fix = "check that the Python installation is intact"
    raise SandboxError(f"the {prefer} sandbox does not work here ({problem}): {fix}")
