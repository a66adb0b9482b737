"""The APIs each static check looks for, as dotted names matched with their members.

An entry names a module (`socket`: all of it), a member (`os.system`) or a prefix (`os.spawn*`).
The lists were made by reading `dir()` of each module the programs import or could reach
(`os`, `io`, `shutil`, `tempfile`, `mmap`, `pathlib.Path`, `logging.handlers`, `numpy`,
`numpy.lib`, `torch`), not from examples of cheats: every public name of `os`, `io`,
`shutil`, `tempfile`, `mmap` is either listed here or judged harmless in the test that keeps
this catalogue complete (tests/audit/test_static_catalogue.py), so a name added to a module
by a new Python shows up there.

Names are matched after resolution (`audit.scopes`): an alias, a module reached through
another (`torch.os`, `numpy.ctypeslib.ctypes`) or a C module (`posix`, `_io`) counts as the
module it is.
"""

from __future__ import annotations


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


NETWORK = _names("""socket _socket socketserver ssl _ssl urllib urllib3 http requests httpx aiohttp
    ftplib smtplib poplib imaplib nntplib telnetlib xmlrpc websocket websockets
    asyncio.open_connection asyncio.open_unix_connection asyncio.start_server
    asyncio.start_unix_server logging.handlers.SocketHandler logging.handlers.DatagramHandler
    logging.handlers.SysLogHandler logging.handlers.HTTPHandler logging.handlers.SMTPHandler
    logging.handlers.NTEventLogHandler logging.config.listen torch.hub torch.utils.model_zoo
    torch.distributed huggingface_hub datasets torchvision.datasets
    torchtext.datasets tensorflow_datasets kaggle fsspec s3fs boto3 botocore paramiko pycurl
    wget gdown pip ensurepip openai anthropic""")

# Libraries that fetch only through their loaders, with the loaders' names. A program may use
# their classes (`transformers.AutoModelForCausalLM`, imported by that name) and call a loader
# on a path the harness gave it (`from_pretrained(args.model)`); any other member (a function
# such as `pipeline`, a submodule such as `transformers.utils.hub`, a loader given a name) is
# taken for network use, since such libraries reach the hub from deep inside.
LOADERS = {"transformers": ("from_pretrained",)}

PROCESSES = _names("""subprocess _posixsubprocess _winapi multiprocessing _multiprocessing
    torch.multiprocessing concurrent.futures.ProcessPoolExecutor concurrent.futures.process
    pty pexpect sh plumbum webbrowser os.system os.popen os.fork os.forkpty os.spawn* os.exec*
    os._exec* os._spawnvef os.posix_spawn* os.kill os.killpg os.pidfd_open os.setsid
    os.setpgid os.setpgrp os.tcsetpgrp os.openpty os.login_tty os.setuid os.setgid os.seteuid
    os.setegid os.setreuid os.setregid os.setresuid os.setresgid os.setgroups
    os.initgroups os.startfile asyncio.create_subprocess_* asyncio.subprocess
    torch.utils.cpp_extension numpy.f2py distutils setuptools""")

THREADS = _names("""threading _thread concurrent.futures torch.set_num_threads
    torch.set_num_interop_threads os.sched_setaffinity""")

ENVIRONMENT = _names("""os.environ os.environb os.getenv os.getenvb os.putenv os.unsetenv
    os.get_exec_path os.getlogin os.path.expanduser os.path.expandvars getpass""")

TIME = _names("""time.sleep asyncio.sleep signal _signal resource os.nice os.setpriority
    os.sched_setscheduler os.sched_setparam time.clock_settime* faulthandler
    sys.setswitchinterval""")

DYNAMIC = _names("""exec eval compile __import__ importlib pickle.load pickle.loads
    pickle.Unpickler _pickle marshal shelve ctypes _ctypes cffi _cffi_backend dill cloudpickle
    joblib jsonpickle pandas.read_pickle runpy code codeop zipimport pkgutil site
    types.FunctionType types.CodeType numpy.ctypeslib torch._C torch.ops.load_library
    torch.classes.load_library torch.package gc.get_objects gc.get_referrers
    gc.get_referents sys._getframe inspect.currentframe inspect.stack inspect.trace
    timeit pdb bdb pydoc.locate pydoc.importfile pydoc.pipepager pydoc.tempfilepager
    trace cProfile.run cProfile.runctx profile.run profile.runctx doctest
    unittest.mock""")

# torch._C's operator namespaces are the tensor operations torch.nn.functional itself calls
TENSOR_OPS = _names("""torch._C._nn torch._C._fft torch._C._linalg torch._C._special
    torch._C._nested torch._C._sparse torch._C._VariableFunctions torch._C._return_types""")

SEEDING = _names("""torch.manual_seed torch.random.manual_seed torch.cuda.manual_seed*
    torch.seed torch.random.seed random.seed random.Random numpy.random.seed
    numpy.random.default_rng numpy.random.RandomState numpy.random.SeedSequence
    numpy.random.PCG64* numpy.random.MT19937 numpy.random.Philox numpy.random.SFC64""")
SEED_METHODS = {"manual_seed", "manual_seed_all"}  # on a generator object of any kind

CONFIG = _names("torch.backends torch._dynamo.config torch._inductor.config")  # settable

# calls that reach the file system; their path is the first argument unless PATH_ARGS says
FILES = _names("""open io.open io.open_code io.FileIO _io codecs.open tokenize.open
    os.open os.fdopen os.read os.write os.pread os.pwrite os.readv os.writev os.preadv
    os.pwritev os.sendfile os.copy_file_range os.splice os.truncate os.ftruncate os.lseek
    os.dup os.dup2 os.close os.closerange os.fsync os.fdatasync os.fstat os.fstatvfs os.lockf
    os.posix_fadvise os.posix_fallocate os.set_blocking os.set_inheritable os.fchdir
    os.fchmod os.fchown os.fpathconf os.pathconf os.listdir os.scandir os.walk os._walk
    os.fwalk os._fwalk os.stat os.lstat os.statvfs os.access os.chdir os.chroot os.chmod
    os.lchmod os.chown os.lchown os.chflags os.lchflags os.link os.symlink os.readlink
    os.remove os.unlink os.rmdir os.removedirs os.mkdir os.makedirs os.mkfifo os.mknod
    os.rename os.renames os.replace os.utime os.getxattr os.setxattr os.listxattr
    os.removexattr os.memfd_create os.getcwd os.getcwdb os.path.exists os.path.lexists
    os.path.is* os.path.getsize os.path.getmtime os.path.getatime os.path.getctime
    os.path.samefile os.path.sameopenfile os.path.samestat pathlib shutil tempfile mmap
    glob fileinput linecache gzip.open gzip.GzipFile bz2.open bz2.BZ2File lzma.open
    lzma.LZMAFile tarfile zipfile sqlite3.connect dbm inspect.getsource* inspect.getfile
    inspect.findsource inspect.getcomments inspect.getlines inspect.getmodule
    __loader__ __spec__ logging.FileHandler logging.basicConfig logging.config.fileConfig
    logging.handlers.RotatingFileHandler logging.handlers.TimedRotatingFileHandler
    logging.handlers.WatchedFileHandler logging.handlers.BaseRotatingHandler
    numpy.load numpy.fromfile numpy.loadtxt numpy.genfromtxt numpy.fromregex numpy.memmap
    numpy.save numpy.savez numpy.savez_compressed numpy.savetxt numpy.DataSource
    numpy.lib.format numpy.lib.npyio numpy.lib._npyio_impl numpy.lib._datasource
    numpy.lib._format_impl torch.load torch.save torch.from_file torch.serialization
    torch.jit.load torch.jit.save torch.utils.tensorboard torch.PyTorchFileReader
    torch.PyTorchFileWriter torch.profiler.tensorboard_trace_handler filecmp mimetypes.init
    mimetypes.read_mime_types mimetypes.MimeTypes.read configparser.ConfigParser.read
    netrc mailbox mailcap plistlib.load imghdr sndhdr wave.open aifc.open sunau.open
    zipapp modulefinder py_compile compileall""")
PATH_ARGS = {"torch.save": (1,), "os.rename": (0, 1), "os.renames": (0, 1),
             "os.replace": (0, 1), "os.link": (0, 1), "os.symlink": (0, 1), "shutil": (0, 1),
             "os.sendfile": (0, 1), "os.copy_file_range": (0, 1), "os.splice": (0, 1),
             "os.dup2": (0, 1), "numpy.savez*": (0,), "logging.basicConfig": ()}
# calls that are file access only when given a path by keyword (logging.basicConfig(filename=))
OPTIONAL_PATH = _names("logging.basicConfig")
# methods whose receiver (None) or argument (an index) is a path, whatever the object
PATH_METHODS = {"read_text": None, "read_bytes": None, "write_text": None, "write_bytes": None,
                "iterdir": None, "glob": None, "rglob": None, "touch": None,
                "symlink_to": None, "hardlink_to": None, "samefile": None, "tofile": 0,
                "from_file": 0}
PATH_KEYWORDS = {"file", "f", "fname", "filename", "path", "src", "dst", "fid", "top", "fd",
                 "name", "filepath", "dir", "root", "fp"}

# Member names so particular to a dangerous API that calling them on an object the auditor
# cannot trace (a parameter, an element of a container it cannot follow) is reported as that
# API: no model, tensor or optimiser has a method of these names.
DISTINCTIVE = {
    "static.processes": _names("""system popen fork forkpty execv execve execvp execvpe execl
        execle execlp execlpe spawnv spawnve spawnvp spawnvpe spawnl spawnle spawnlp spawnlpe
        posix_spawn posix_spawnp killpg check_output check_call getoutput getstatusoutput
        Popen setsid setpgrp"""),
    "static.network": _names("""create_connection urlopen urlretrieve getaddrinfo
        gethostbyname create_server SocketHandler DatagramHandler SysLogHandler HTTPHandler
        load_state_dict_from_url push_to_hub hf_hub_download snapshot_download
        from_pretrained"""),
    "static.environment": _names("getenv getenvb putenv unsetenv environ environb"),
    "static.files": _names("""listdir scandir fwalk readlink symlink open_code FileIO
        from_file memmap fromfile getcwd chdir chroot makedirs removedirs"""),
    "static.dynamic-code": _names("""CDLL PyDLL cdll pydll dlopen LoadLibrary load_library
        import_module __import__ __subclasses__ __globals__ __builtins__ __code__ f_globals
        f_locals f_back f_builtins gi_frame tb_frame _getframe get_referrers get_objects"""),
    "static.time": _names("setrlimit setpriority sched_setscheduler"),
}

# Top-level modules whose members the checks name. An attribute of any module that bears one of
# these names and is not that module's own submodule is taken for a re-export of it
# (`torch.os`, `logging.handlers.socket`, `numpy.ctypeslib.ctypes`).
REEXPORTED = frozenset({
    entry.split(".")[0].rstrip("*")
    for table in (NETWORK, PROCESSES, THREADS, ENVIRONMENT, TIME, DYNAMIC, FILES)
    for entry in table} | set(LOADERS) | {"os", "sys", "io", "builtins"}) - {
        "open", "exec", "eval", "compile", "__import__", "__loader__", "__spec__", "numpy",
        "torch"}
# C and platform modules that are another module under a private name
CANONICAL = {"posix": "os", "nt": "os", "posixpath": "os.path", "ntpath": "os.path",
             "_io": "io", "_posixsubprocess": "subprocess", "_socket": "socket",
             "_ctypes": "ctypes", "_pickle": "pickle", "_signal": "signal"}
# a member of one of these modules looked up by a name not written out may be anything
NAMESPACES = {"sys.modules", "builtins", "globals", "locals"}
