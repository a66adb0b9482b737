"""Static review of a candidate's patch: did it add code a fair experiment may not contain?

Approach. Both versions of every changed Python file are parsed, and only what the patch added
is examined: a node of the new syntax tree counts as added when it touches a line the diff marks
as new and its exact shape (`ast.dump`, positions left out) occurs more often after the patch
than before. So the vanilla program's own `import os`, `np.fromfile(args.data)`,
`torch.manual_seed(args.seed)` or its read of RECURSOR_THREADS are never flagged and a moved
line is not a change, while a second environment read, or an old call given a new argument, is.
Names are resolved through the file's imports (`F` is `torch.nn.functional`, `from os import
system`), through `getattr(module, "name")`, `__import__("name")` and `sys.modules["name"]`, and
strings built from literals are folded (`"so"[::-1] + "cket"`, `"".join([...])`, base64, zlib,
rot13), so the simple obfuscations still show the names they hide. Each check is one small
function over the added nodes; a finding quotes the offending line with its number.

Limits. A static check cannot see through every obfuscation (a name computed from the data,
code smuggled in through a file, a seed made constant by arithmetic), and it cannot tell what a
legitimate-looking program does when it runs: threads that hide work, attention that sees the
future, a model that memorised the test text, a recipe that works for one seed only. The
harness's dynamic checks and the evidence checks exist for those; this module rejects the
obvious cheats cheaply, before anything runs, with the line to show for it.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import threading
from collections.abc import Iterator, Mapping, Sequence

from recursor.audit.code import DECODERS, Code, added_nodes, changed_lines, fold, matches
from recursor.store.records import Finding


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# dotted names, matched with their members ("os.spawn*": a prefix)
NETWORK = _names("""socket socketserver urllib urllib3 http requests httpx aiohttp ftplib smtplib
    poplib imaplib telnetlib ssl websocket websockets xmlrpc torch.hub torch.utils.model_zoo
    huggingface_hub datasets transformers""")
PROCESSES = _names("""subprocess multiprocessing torch.multiprocessing pty pexpect os.system
    os.popen os.fork os.forkpty os.spawn* os.exec* os.posix_spawn* os.kill os.killpg
    asyncio.create_subprocess_*""")
THREADS = _names("""threading _thread concurrent.futures torch.set_num_threads
    torch.set_num_interop_threads os.sched_setaffinity""")
ENVIRONMENT = _names("os.environ os.environb os.getenv os.getenvb os.putenv os.unsetenv")
TIME = _names("""time.sleep asyncio.sleep signal resource os.nice os.setpriority
    os.sched_setscheduler time.clock_settime* faulthandler""")
DYNAMIC = _names("""exec eval compile __import__ importlib pickle.load pickle.loads
    pickle.Unpickler marshal ctypes cffi dill cloudpickle runpy code types.FunctionType
    types.CodeType""")
SEEDING = _names("""torch.manual_seed torch.random.manual_seed torch.cuda.manual_seed*
    random.seed random.Random numpy.random.seed numpy.random.default_rng numpy.random.RandomState
    numpy.random.SeedSequence""")
CONFIG = _names("torch.backends torch._dynamo.config torch._inductor.config")  # settable
# calls that reach the file system; their path is the first argument unless PATH_ARGS says
FILES = _names("""open io.open os.open os.fdopen codecs.open numpy.load numpy.fromfile
    numpy.loadtxt numpy.genfromtxt numpy.memmap numpy.save* torch.load torch.save pathlib
    os.listdir os.scandir os.walk os.stat os.remove os.unlink os.mkdir os.makedirs os.rmdir
    os.chdir os.rename os.replace os.link os.symlink os.path.exists os.path.is* os.path.getsize
    glob shutil linecache fileinput gzip.open bz2.open lzma.open tarfile zipfile sqlite3.connect""")
PATH_ARGS = {"torch.save": (1,), "os.rename": (0, 1), "os.replace": (0, 1), "os.link": (0, 1),
             "os.symlink": (0, 1), "shutil": (0, 1)}
PATH_METHODS = {"read_text": None, "read_bytes": None, "write_text": None, "write_bytes": None,
                "iterdir": None, "glob": None, "rglob": None, "tofile": 0}  # None: the receiver
PATH_KEYWORDS = {"file", "f", "fname", "filename", "path", "src", "dst", "fid", "top"}
SUSPICIOUS = re.compile(r"(^|[/\\])\.\.([/\\]|$)|/proc\b|/etc\b|/root\b|/home\b|/work\b|"
                        r"shared/data|harness|tinyshakespeare|wikitext", re.IGNORECASE)
URL = re.compile(r"^\s*(https?|ftp|wss?)://", re.IGNORECASE)


def review_patch(before: Mapping[str, str], after: Mapping[str, str],
                 editable: Sequence[str]) -> list[Finding]:
    """Findings on what changed from `before` to `after` (file name -> contents). A file absent
    from `after` is unchanged; only changed files are read, and only their added code."""
    findings = list(check_non_editable(before, after, editable))
    for name, new in sorted(after.items()):
        if name.endswith(".py") and before.get(name) != new:
            findings += _review_python(name, before.get(name) or "", new)
    unique: dict[tuple[str, str], Finding] = {}
    for f in findings:  # one finding per check and line
        unique.setdefault((f.check, f.evidence), f)
    return list(unique.values())


def check_non_editable(before: Mapping[str, str], after: Mapping[str, str],
                       editable: Sequence[str]) -> Iterator[Finding]:
    for name, new in sorted(after.items()):
        old = before.get(name)
        if old != new and not any(fnmatch.fnmatchcase(name, e) for e in editable):
            lines = new.splitlines() or [""]
            first = min(min(changed_lines(old or "", new) or {1}), len(lines))
            yield Finding("static.non-editable", True,
                          f"The patch {'creates' if old is None else 'changes'} {name}, which is "
                          f"not an editable file ({', '.join(editable) or 'none'}). The harness "
                          "and the other files of the task are read-only.",
                          f"{name}:{first}: {lines[first - 1].strip()}")


# CPython 3.11 keeps the AST constructor's recursion counter in one per-interpreter slot, so two
# threads parsing at once can fail with "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905). The loop reviews patches from worker threads: parse one at a time,
# and retry once when a parse elsewhere in the process (not under this lock) raced with ours.
_PARSE_LOCK = threading.Lock()


def _parse(source: str, filename: str = "<unknown>") -> ast.Module:
    with _PARSE_LOCK:
        try:
            return ast.parse(source, filename=filename)
        except SystemError:
            return ast.parse(source, filename=filename)


def _review_python(name: str, old: str, new: str) -> list[Finding]:
    try:
        tree = _parse(new, filename=name)
        try:
            old_tree = _parse(old)
        except (SyntaxError, ValueError):
            old_tree = ast.Module(body=[], type_ignores=[])
        code = Code(name, new, tree, added_nodes(old_tree, tree, changed_lines(old, new)))
        return [f for check in CHECKS for f in check(code)]
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        line = getattr(err, "lineno", None) or 0
        text = new.splitlines()[line - 1].strip() if 0 < line <= len(new.splitlines()) else ""
        return [Finding("static.syntax", True, f"The patch leaves {name} unreadable as Python "
                        f"({getattr(err, 'msg', type(err).__name__)}), so it can be neither "
                        "audited nor run.", f"{name}:{line}: {text}")]


# ----------------------------------------------------------------------------- the checks


def _by_name(code: Code, table: Sequence[str], check: str, did: str, why: str,
             blocking: bool = True) -> Iterator[Finding]:
    for node, name in code.uses(table):
        yield Finding(check, blocking, f"The patch {did} ({name}). {why}", code.evidence(node))


def check_network(code: Code) -> Iterator[Finding]:
    why = ("A candidate must learn only from the bytes the harness hands it: downloading text, "
           "weights or answers brings in data and compute outside the budget.")
    yield from _by_name(code, NETWORK, "static.network", "uses the network", why)
    for node, text in code.strings():
        if URL.match(text):
            yield Finding("static.network", True, f"The patch contains the address "
                          f"{_short(text)}. {why}", code.evidence(node))


def check_processes(code: Code) -> Iterator[Finding]:
    return _by_name(code, PROCESSES, "static.processes", "starts or signals other processes",
                    "Work done in another process escapes the CPU and time budget the harness "
                    "measures, and it may outlive the experiment.")


def check_threads(code: Code) -> Iterator[Finding]:
    return _by_name(code, THREADS, "static.threads", "uses threads",
                    "That is allowed (a data loader may), but the harness fails a candidate "
                    "that uses more CPU than its thread limit; a warning for the reviewer.",
                    blocking=False)


def check_environment(code: Code) -> Iterator[Finding]:
    return _by_name(code, ENVIRONMENT, "static.environment", "reads or writes environment "
                    "variables", "The program gets its inputs from its command line only; the "
                    "environment can leak keys or paths, or tell the program it is audited.")


def check_time(code: Code) -> Iterator[Finding]:
    return _by_name(code, TIME, "static.time", "sleeps, handles signals or changes its "
                    "priority or limits", "A candidate may not tamper with the clock, with the "
                    "deadlines that stop it or with its share of the machine.")


def check_seed(code: Code) -> Iterator[Finding]:
    mine = "the seed is the harness's to give, and a lucky seed is not a better method."
    for node in code.added:
        if isinstance(node, ast.Call):
            method = getattr(node.func, "attr", "")
            given = [*node.args, *(k.value for k in node.keywords)]
            if ((matches(code.qualname(node.func) or "", SEEDING)
                 or method in ("manual_seed", "manual_seed_all"))
                    and given and not any(code.seedlike(a) for a in given)):
                yield Finding("static.seed", True, "The patch seeds a random generator with "
                              f"{', '.join(map(ast.unparse, given))}, not with the seed given "
                              f"on the command line: {mine}", code.evidence(node))
            if method == "add_argument" and node.args and fold(node.args[0]) == "--seed":
                yield Finding("static.seed", True, "The patch changes how the program reads "
                              f"its --seed argument: {mine}", code.evidence(node))
            if (code.qualname(node.func) == "setattr" and len(node.args) == 3
                    and fold(node.args[1]) == "seed" and not code.seedlike(node.args[2])):
                yield Finding("static.seed", True, "The patch overwrites the seed with "
                              f"{ast.unparse(node.args[2])}: {mine}", code.evidence(node))
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.For | ast.NamedExpr):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.iter if isinstance(node, ast.For) else node.value
            if value and any(map(code.seedlike, targets)) and not code.seedlike(value):
                yield Finding("static.seed", True, "The patch overwrites the seed with "
                              f"{ast.unparse(value)}: {mine}", code.evidence(node))
        if _depends_on_seed(code, node):
            yield Finding("static.seed", True, "The patch compares, branches or looks something "
                          "up on the seed. Special-casing seeds makes a result that holds for one "
                          "seed only; a method must not depend on which seed it is run with.",
                          code.evidence(node))


def _depends_on_seed(code: Code, node: ast.AST) -> bool:
    """A comparison, branch, match, filter, table index or dict .get() keyed on the seed."""
    if isinstance(node, ast.Compare):
        decides = [node.left, *node.comparators]
    elif isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert | ast.Match):
        decides = [node.subject if isinstance(node, ast.Match) else node.test]
    elif isinstance(node, ast.Subscript):
        decides = [node.slice]
    elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "get":
        decides = node.args[:1]
    elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
        decides = [test for g in node.generators for test in g.ifs]
    else:
        return False
    return any(code.seedlike(x) for x in decides)


def check_monkeypatch(code: Code) -> Iterator[Finding]:
    for node in code.added:
        if isinstance(node, ast.Assign | ast.Delete):
            targets = [n for t in node.targets for n in getattr(t, "elts", [t])]
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (isinstance(node, ast.Call) and node.args
              and code.qualname(node.func) in ("setattr", "delattr")):
            targets = [node.args[0]]  # the object whose member it replaces
        else:
            continue
        for target in targets:
            if not isinstance(node, ast.Call) and not isinstance(target, ast.Attribute
                                                                     | ast.Subscript):
                continue  # binding a name of the program's own is fine
            if not code.imported_root(target) or matches(code.qualname(target) or "", CONFIG):
                continue
            if isinstance(target, ast.Subscript) and matches(code.qualname(target.value) or "",
                                                              ENVIRONMENT):
                continue  # os.environ[...] = ...: the environment check reports it
            yield Finding("static.monkeypatch", True,
                          f"The patch replaces {ast.unparse(target)}, part of an imported "
                          "module. Rewriting library functions (the loss, the clock, file I/O, "
                          "builtins) can fake what others measure and changes code the patch "
                          "does not show; define a new function of the program instead.",
                          code.evidence(node))


def check_files(code: Code) -> Iterator[Finding]:
    for node in code.added:
        name = code.qualname(node.func) if isinstance(node, ast.Call) else None
        if name and matches(name, FILES):
            where = next((v for k, v in PATH_ARGS.items() if matches(name, (k,))), (0,))
            paths = [node.args[i] for i in where if i < len(node.args)]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in PATH_METHODS:
            where = PATH_METHODS[node.func.attr]
            paths = ([node.func.value] if where is None
                     else [node.args[where]] if len(node.args) > where else [])
            name = f".{node.func.attr}()"
        else:
            continue
        paths += [k.value for k in node.keywords if k.arg in PATH_KEYWORDS]
        if not paths or not all(code.given_path(p) for p in paths):
            yield Finding("static.files", True,
                          f"The patch reaches a file it was not given ({name}). The program may "
                          "read --data, --inputs and --checkpoint and write --checkpoint, "
                          "--outputs and its progress pipe (or files named after them), nothing "
                          "else: other files can hold the validation text, the harness, or what "
                          "other runs left behind.", code.evidence(node))
    for node, text in code.strings():
        if hit := SUSPICIOUS.search(text):
            yield Finding("static.files", True,
                          f"The patch contains the string {_short(text)}, which points at "
                          f"{hit.group(0).strip('/')!r}: the program has no business with the "
                          "harness, the data folder, parent folders or system files.",
                          code.evidence(node))


def check_dynamic_code(code: Code) -> Iterator[Finding]:
    for node, name in code.uses(DYNAMIC):
        hidden = any(getattr(getattr(n, "func", None), "attr", None) in DECODERS
                     for n in ast.walk(node))
        yield Finding("static.dynamic-code", True,
                      f"The patch runs code that cannot be read in the patch ({name}"
                      f"{', decoded from an encoded literal' if hidden else ''}). Executing "
                      "strings, importing by computed name and unpickling hide what the "
                      "program does from review, so they are not allowed.", code.evidence(node))
    for node in code.added:
        name = code.qualname(node.func) if isinstance(node, ast.Call) else None
        if (name == "getattr" and len(node.args) >= 2 and code.qualname(node.args[0])
                and not isinstance(getattr(node.args[1], "value", None), str)):
            yield Finding("static.dynamic-code", True,
                          "The patch looks up a member of a module by a computed name "
                          f"({ast.unparse(node.args[1])}), which hides what it calls.",
                          code.evidence(node))
        unpickles = {"weights_only": False, "allow_pickle": True}
        if name in ("torch.load", "numpy.load") and any(
                getattr(k.value, "value", None) is unpickles.get(k.arg, 0) for k in node.keywords):
            yield Finding("static.dynamic-code", False, "The patch loads a file with pickling "
                          "on, which can run code stored in the file rather than in the patch; "
                          "a warning (unpickling its own checkpoint is harmless).",
                          code.evidence(node))


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


CHECKS = (check_network, check_processes, check_threads, check_environment, check_seed,
          check_monkeypatch, check_files, check_dynamic_code, check_time)
