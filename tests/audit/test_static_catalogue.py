"""The static auditor's API catalogue is complete: every public name of the modules that reach
files and processes is either caught by a check or judged harmless here, with the reason, so a
name a new Python adds to `os` or `io` fails this test until someone decides about it."""

from __future__ import annotations

import io
import mmap
import os
import pathlib
import shutil
import tempfile

import pytest

from recursor.audit.catalogue import (
    DYNAMIC,
    ENVIRONMENT,
    FILES,
    NETWORK,
    PATH_METHODS,
    PROCESSES,
    THREADS,
    TIME,
)
from recursor.audit.code import matches


def words(text: str) -> set[str]:
    return set(text.split())


CAUGHT = NETWORK + PROCESSES + THREADS + ENVIRONMENT + TIME + DYNAMIC + FILES

HARMLESS = {
    # types, constants and the module's own plumbing
    "os": words("""DirEntry GenericAlias Mapping MutableMapping PathLike _Environ _check_methods
        _exists _fspath _get_exports_list _wrap_close abc error stat_result statvfs_result
        terminal_size times_result uname_result waitid_result sched_param st sys path
        altsep curdir defpath devnull extsep linesep name pardir pathsep sep
        confstr_names pathconf_names sysconf_names supports_bytes_environ supports_dir_fd
        supports_effective_ids supports_fd supports_follow_symlinks""")
    # questions about the process and the machine, answered without touching a file
    | words("""cpu_count confstr sysconf ctermid getloadavg getpid getppid getpgid getpgrp getsid
        getuid geteuid getgid getegid getgroups getgrouplist getresuid getresgid getpriority
        sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getparam
        sched_getscheduler sched_rr_get_interval sched_yield times uname tcgetpgrp
        get_terminal_size isatty ttyname get_blocking get_inheritable device_encoding
        strerror fsencode fsdecode fspath major minor makedev urandom getrandom umask sync
        waitstatus_to_exitcode""")
    # waiting for children needs a child, which only the caught calls can start; pipes and
    # event descriptors live inside the process; exiting ends only the program itself
    | words("""wait wait3 wait4 waitid waitpid register_at_fork pipe pipe2 eventfd eventfd_read
        eventfd_write abort _exit"""),
    # in-memory streams, and wrappers of a stream that only a caught call can open
    "io": words("""BlockingIOError BufferedIOBase BufferedRWPair BufferedRandom BufferedReader
        BufferedWriter BytesIO IOBase IncrementalNewlineDecoder RawIOBase StringIO TextIOBase
        TextIOWrapper UnsupportedOperation _io abc text_encoding"""),
    "shutil": set(), "tempfile": set(), "mmap": set(),
}
# the methods of a Path that read or write the file system need a path the program was given:
# the Path is built from one (pathlib.Path(...) is checked), or they are checked themselves
PATH_IO = words("""chmod exists glob group hardlink_to is_block_device is_char_device is_dir
    is_fifo is_file is_mount is_socket is_symlink iterdir lchmod link_to lstat mkdir open owner
    read_bytes read_text readlink rename replace resolve rglob rmdir samefile stat symlink_to
    touch unlink write_bytes write_text absolute expanduser home cwd""")


@pytest.mark.parametrize("module", [os, io, shutil, tempfile, mmap], ids=lambda m: m.__name__)
def test_every_public_name_is_caught_or_judged_harmless(module):
    names = {n for n in dir(module) if not n.startswith("__") and not n.isupper()}
    caught = {n for n in names if matches(f"{module.__name__}.{n}", CAUGHT)}
    assert names - caught <= HARMLESS[module.__name__], sorted(names - caught -
                                                                HARMLESS[module.__name__])
    assert not caught & HARMLESS[module.__name__], "judged twice"


def test_path_methods_are_covered():
    methods = {n for n in dir(pathlib.Path) if not n.startswith("_")}
    assert methods | {"link_to", "lchmod"} >= PATH_IO
    # pathlib itself is a file API: a Path is built from a given path or the call is flagged
    assert matches("pathlib.Path", FILES) and matches("pathlib.Path.home", FILES)
    # the methods that do I/O whatever object they are called on
    assert {"read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "glob",
            "rglob", "touch", "symlink_to", "hardlink_to", "tofile", "from_file"} <= set(
        PATH_METHODS)


@pytest.mark.parametrize("name", ["numpy.memmap", "numpy.fromfile", "numpy.load", "numpy.save",
                                  "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromregex",
                                  "numpy.savez_compressed", "numpy.savetxt", "numpy.DataSource",
                                  "numpy.lib.format.open_memmap", "numpy.lib.npyio.DataSource",
                                  "torch.load", "torch.save", "torch.from_file",
                                  "torch.serialization._open_file", "torch.jit.load",
                                  "torch.utils.tensorboard.SummaryWriter", "io.FileIO",
                                  "io.open_code", "os.fwalk", "os.readlink", "os.scandir",
                                  "os.sendfile", "os.truncate", "logging.FileHandler",
                                  "inspect.getsource", "tokenize.open", "__loader__"])
def test_file_apis(name):
    assert matches(name, FILES)


@pytest.mark.parametrize("name, table", [
    ("numpy.ctypeslib.load_library", DYNAMIC), ("ctypes.CDLL", DYNAMIC), ("cffi.FFI", DYNAMIC),
    ("torch._C._dl_open", DYNAMIC), ("torch.ops.load_library", DYNAMIC),
    ("torch.utils.cpp_extension.load_inline", PROCESSES), ("numpy.f2py.compile", PROCESSES),
    ("concurrent.futures.ProcessPoolExecutor", PROCESSES), ("pty.spawn", PROCESSES),
    ("webbrowser.open", PROCESSES), ("os.posix_spawn", PROCESSES), ("os.setsid", PROCESSES),
    ("logging.handlers.SocketHandler", NETWORK), ("logging.handlers.SysLogHandler", NETWORK),
    ("logging.handlers.HTTPHandler", NETWORK), ("logging.config.listen", NETWORK),
    ("torch.distributed.init_process_group", NETWORK), ("torch.hub.load", NETWORK),
    ("os.path.expanduser", ENVIRONMENT), ("getpass.getuser", ENVIRONMENT),
])
def test_process_network_and_native_apis(name, table):
    assert matches(name, table)
