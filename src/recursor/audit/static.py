"""Static review of a candidate's patch: did it add code a fair experiment may not contain?

Approach. Both versions of every changed Python file are parsed, and only what the patch added
is examined: a node of the new syntax tree counts as added when it touches a line the diff marks
as new and its exact shape (`ast.dump`, positions left out) occurs more often after the patch
than before. So the vanilla program's own `import os`, `np.fromfile(args.data)`,
`torch.manual_seed(args.seed)` or its read of RECURSOR_THREADS are never flagged and a moved
line is not a change, while a second environment read, or an old call given a new argument, is.

What an added expression means is worked out over the whole new file, scope by scope
(`audit.scopes`, `audit.values`): a module is that module wherever it goes (aliases,
assignments, parameters of the file's own functions, attributes and containers, `getattr`,
`__dict__`, `vars()`, `importlib`, `__import__`, `sys.modules`, re-exports such as `torch.os`);
the program's given paths and its seed are followed per scope through assignments and calls;
strings are folded however they are built (`audit.literals`, `audit.constants`). A dangerous
name called on an object that cannot be traced is reported as what its name says
(`catalogue.DISTINCTIVE`), and a member of a module looked up by a name that cannot be folded
is reported as hidden code. What the patch's literals carry is checked against the task's
data and for opaque payloads (`audit.payloads`). Each check is one small function over the
added nodes; a finding quotes the offending line with its number.

Limits. A static check cannot see through every obfuscation (a name computed from the data,
code smuggled in through a file, a seed made constant by arithmetic, text stored in a form no
decoder here knows), and it cannot tell what a legitimate-looking program does when it runs:
threads that hide work, attention that sees the future, a model that memorised the test text,
a recipe that works for one seed only. The harness's dynamic checks and the evidence checks
exist for those; this module rejects the obvious cheats cheaply, before anything runs, with
the line to show for it, and prefers letting an obfuscation through to blocking honest code.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence

from recursor.audit.catalogue import (
    CONFIG,
    DISTINCTIVE,
    DYNAMIC,
    ENVIRONMENT,
    FILES,
    LOADERS,
    NETWORK,
    OPTIONAL_PATH,
    PATH_ARGS,
    PATH_KEYWORDS,
    PATH_METHODS,
    PROCESSES,
    REEXPORTED,
    SEED_METHODS,
    SEEDING,
    TENSOR_OPS,
    THREADS,
    TIME,
)
from recursor.audit.code import DECODERS, Code, added_nodes, changed_lines, matches
from recursor.audit.memorisation import Corpus
from recursor.audit.payloads import check_memorisation, check_opaque
from recursor.audit.reach import Reach, owner
from recursor.store.records import Finding

SUSPICIOUS = re.compile(r"(^|[/\\])\.\.([/\\]|$)|/proc\b|/etc\b|/root\b|/home\b|/work\b|"
                        r"/tmp\b|/dev/shm\b|shared/data|harness|tinyshakespeare|wikitext",
                        re.IGNORECASE)
CLASS = re.compile(r"^[A-Z][A-Za-z0-9_]*$")  # a library's class, by its name
GIVEN_LOADERS = frozenset(name for names in LOADERS.values() for name in names)
URL = re.compile(r"^\s*(https?|ftp|wss?)://", re.IGNORECASE)
DATA_LOADERS = ("torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader")


def review_patch(before: Mapping[str, str], after: Mapping[str, str],
                 editable: Sequence[str], corpus: Corpus | None = None,
                 given: Sequence[str] = ()) -> list[Finding]:
    """Findings on what changed from `before` to `after` (file name -> contents). A file absent
    from `after` is unchanged; only changed files are read, and only their added code.
    `corpus` (the task's data, see `memorisation.task_corpus`) turns on the memorisation
    check; without it, literals are still checked for opaque payloads. `given` names the
    task's own arguments that the harness fills with paths (`program.given`)."""
    findings = list(check_non_editable(before, after, editable))
    for name, new in sorted(after.items()):
        if name.endswith(".py") and before.get(name) != new:
            findings += _review_python(name, before.get(name) or "", new, corpus, given)
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


def _review_python(name: str, old: str, new: str, corpus: Corpus | None,
                   given: Sequence[str] = ()) -> list[Finding]:
    try:
        tree = _parse(new, filename=name)
        try:
            old_tree = _parse(old)
        except (SyntaxError, ValueError):
            old_tree = ast.Module(body=[], type_ignores=[])
        code = Code(name, new, tree, added_nodes(old_tree, tree, changed_lines(old, new)),
                    (old, old_tree), given)
        findings = [f for check in CHECKS for f in check(code)]
        return findings + list(check_memorisation(code, corpus))
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
    if blocking:
        yield from _untraced(code, check, did, why)


def _untraced(code: Code, check: str, did: str, why: str) -> Iterator[Finding]:
    """Calls of a dangerous API's own name on an object the auditor cannot trace to a module
    (a parameter, a container it cannot follow): taken for that API."""
    names = set(DISTINCTIVE.get(check, ()))
    for node in code.added:
        if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
                and node.attr in names and node.attr not in code.scopes.own_names
                and not code.refs(node.value)):
            if (check == "static.files" or node.attr in GIVEN_LOADERS) and \
                    _given_call(code, node):
                continue  # a file it was given; from_pretrained on a folder it was given
            yield Finding(check, True, f"The patch {did} (.{node.attr} on "
                          f"{_short(ast.unparse(node.value))}, an object the auditor cannot "
                          f"trace; {node.attr} is the name of that API). {why}",
                          code.evidence(node))


def _given_call(code: Code, attribute: ast.Attribute) -> bool:
    """Whether `attribute` is called, here, on a path given to the program (its first argument,
    or the keyword from_pretrained names it by)."""
    call = code.parents.get(attribute)
    if not (isinstance(call, ast.Call) and call.func is attribute):
        return False
    path = call.args[0] if call.args else next(
        (k.value for k in call.keywords if k.arg == "pretrained_model_name_or_path"), None)
    return path is not None and code.given_path(path)


def _loads_given(code: Code, node: ast.AST, name: str) -> bool:
    """Whether a use of a LOADERS library is the program's: the library itself, one of its
    classes by its top-level name, or a loader of one called on a path given to the program."""
    root, _, member = name.partition(".")
    parts = member.split(".") if member else []
    if not parts:
        return True
    if not CLASS.match(parts[0]) or len(parts) > 2:
        return False
    return len(parts) == 1 or (parts[1] in LOADERS[root] and isinstance(node, ast.Attribute)
                               and _given_call(code, node))


def check_network(code: Code) -> Iterator[Finding]:
    why = ("A candidate must learn only from the bytes the harness hands it: downloading text, "
           "weights or answers brings in data and compute outside the budget.")
    yield from _by_name(code, NETWORK, "static.network", "uses the network", why)
    for node, name in code.uses(tuple(LOADERS)):
        if not _loads_given(code, node, name):
            yield Finding("static.network", True, f"The patch uses the network ({name}): of "
                          f"{name.split('.')[0]}, a program may use the classes and load with "
                          f"them from a folder the harness gave it, nothing else. {why}",
                          code.evidence(node))
    for node, text in code.strings():
        if URL.match(text):
            yield Finding("static.network", True, f"The patch contains the address "
                          f"{_short(text)}. {why}", code.evidence(node))


def check_processes(code: Code) -> Iterator[Finding]:
    why = ("Work done in another process escapes the CPU and time budget the harness "
           "measures, and it may outlive the experiment.")
    yield from _by_name(code, PROCESSES, "static.processes", "starts or signals other processes",
                        why)
    for node in code.added:  # a DataLoader with workers forks them
        if isinstance(node, ast.Call) and code.refs(node.func) & set(DATA_LOADERS):
            workers = [k.value for k in node.keywords if k.arg == "num_workers"]
            if workers and code.fold(workers[0]) != 0:
                yield Finding("static.processes", True, "The patch starts data-loader worker "
                              f"processes (num_workers={ast.unparse(workers[0])}). {why}",
                              code.evidence(node))


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
    seeded = None  # the functions with the seed in reach, worked out when first needed
    for node in code.added:
        if isinstance(node, ast.Call):
            method = getattr(node.func, "attr", "")
            given = [*node.args, *(k.value for k in node.keywords)]
            if ((matches(code.qualname(node.func) or "", SEEDING) or method in SEED_METHODS)
                    and given and not any(code.seedlike(a) for a in given)):
                if seeded is None:
                    seeded = _reach(code).seeded(_reach(code.before).readers())
                if owner(code.scopes.of(node)) in seeded:
                    yield Finding("static.seed", True, "The patch seeds a random generator "
                                  f"with {', '.join(map(ast.unparse, given))}, not with the "
                                  f"seed given on the command line: {mine}",
                                  code.evidence(node))
            if method == "add_argument" and node.args and code.fold(node.args[0]) == "--seed":
                yield Finding("static.seed", True, "The patch changes how the program reads "
                              f"its --seed argument: {mine}", code.evidence(node))
            if (code.qualname(node.func) == "setattr" and len(node.args) == 3
                    and code.fold(node.args[1]) == "seed" and not code.seedlike(node.args[2])):
                yield Finding("static.seed", True, "The patch overwrites the seed with "
                              f"{ast.unparse(node.args[2])}: {mine}", code.evidence(node))
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.For | ast.NamedExpr):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.iter if isinstance(node, ast.For) else node.value
            if value and any(_holds_seed(code, t) for t in targets) and not code.seedlike(value):
                yield Finding("static.seed", True, "The patch overwrites the seed with "
                              f"{ast.unparse(value)}: {mine}", code.evidence(node))
        if _depends_on_seed(code, node):
            yield Finding("static.seed", True, "The patch compares, branches or looks something "
                          "up on the seed. Special-casing seeds makes a result that holds for one "
                          "seed only; a method must not depend on which seed it is run with.",
                          code.evidence(node))
    yield from _dropped_seed(code, mine)


def _reach(code: Code) -> Reach:
    if code.reach is None:
        code.reach = Reach(code.scopes, code.values)
    return code.reach


def _holds_seed(code: Code, target: ast.AST) -> bool:
    """A target that is the seed: named so (seed, x.seed), or a name that holds it elsewhere."""
    if isinstance(target, ast.Name):
        return target.id == "seed" or code.seedlike(target)
    if isinstance(target, ast.Attribute):
        return target.attr == "seed" and not code.refs(target.value)
    return isinstance(target, ast.Tuple | ast.List) and any(
        _holds_seed(code, t) for t in target.elts)


def _dropped_seed(code: Code, mine: str) -> Iterator[Finding]:
    """The old program read its seed from live code, the new one no longer does."""
    if not code.added or _reach(code).readers():
        return
    before = _reach(code.before).readers()
    if before:
        where = next((code.scopes.defs[k] for k, n in _reach(code).names.items()
                      if n in before), code.added[0])
        yield Finding("static.seed", True, "The patch leaves the program without a use of the "
                      f"seed it is given (read before by {', '.join(sorted(before))}): training "
                      f"that ignores the seed runs one fixed draw, {mine}", code.evidence(where))


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
            # the object changed: the one whose attribute or item is set, or setattr's first
            # argument; a local list or dict that a module constant was put into is not one
            owner = target if isinstance(node, ast.Call) else target.value
            if not code.library_object(owner) or matches(code.qualname(target) or "", CONFIG):
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
    why = ("The program may read --data, --inputs and --checkpoint and write --checkpoint, "
           "--outputs and its progress pipe (or files named after them), nothing else: other "
           "files can hold the validation text, the harness, or what other runs left behind.")
    for node in code.added:
        name = next((r for r in sorted(code.refs(node.func), key=len) if matches(r, FILES)),
                    None) if isinstance(node, ast.Call) else None
        if name:
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
        if not paths and matches(name, OPTIONAL_PATH):
            continue
        if not paths or not all(code.given_path(p) for p in paths):
            yield Finding("static.files", True, f"The patch reaches a file it was not given "
                          f"({name}). {why}", code.evidence(node))
    yield from _untraced(code, "static.files", "reaches a file it was not given", why)
    for node, text in code.strings():
        if hit := SUSPICIOUS.search(text):
            yield Finding("static.files", True,
                          f"The patch contains the string {_short(text)}, which points at "
                          f"{hit.group(0).strip('/')!r}: the program has no business with the "
                          "harness, the data folder, parent folders or system files.",
                          code.evidence(node))


def check_dynamic_code(code: Code) -> Iterator[Finding]:
    why = ("Executing strings, importing by computed name, unpickling and reaching native code "
           "hide what the program does from review, so they are not allowed.")
    for node, name in code.uses(DYNAMIC):
        parent = code.parents.get(node)
        if matches(name, TENSOR_OPS) or (isinstance(parent, ast.Attribute) and any(
                matches(r, TENSOR_OPS) for r in code.refs(parent))):
            continue  # torch._C._nn.gelu_: an operator, as torch.nn.functional calls it
        hidden = any(getattr(getattr(n, "func", None), "attr", None) in DECODERS
                     for n in ast.walk(node))
        yield Finding("static.dynamic-code", True,
                      f"The patch runs code that cannot be read in the patch ({name}"
                      f"{', decoded from an encoded literal' if hidden else ''}). {why}",
                      code.evidence(node))
    yield from _untraced(code, "static.dynamic-code", "reaches code that cannot be read in the "
                         "patch", why)
    for node in code.added:
        name = code.qualname(node.func) if isinstance(node, ast.Call) else None
        if (name == "getattr" and len(node.args) >= 2 and code.refs(node.args[0])
                and not isinstance(getattr(node.args[1], "value", None), str)):
            yield Finding("static.dynamic-code", True,
                          "The patch looks up a member of a module by a computed name "
                          f"({ast.unparse(node.args[1])}), which hides what it calls.",
                          code.evidence(node))
        elif (isinstance(node, ast.Call) or isinstance(node, ast.Subscript)
              and isinstance(node.ctx, ast.Load)) and _hides(code, node):
            modules = ", ".join(sorted(code.value(node).hidden))
            yield Finding("static.dynamic-code", True, "The patch reaches a member of "
                          f"{modules} by a name it computes, which may be any of them. {why}",
                          code.evidence(node))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and _private(
                code, node):
            yield Finding("static.dynamic-code", True, f"The patch uses {ast.unparse(node)}, a "
                          "private member of a module that reaches files, processes or "
                          "native code, which the auditor cannot vet.", code.evidence(node))
        unpickles = {"weights_only": False, "allow_pickle": True}
        if name in ("torch.load", "numpy.load") and any(
                getattr(k.value, "value", None) is unpickles.get(k.arg, 0) for k in node.keywords):
            # blocking: training can write a pickle whose __reduce__ runs code (reads files,
            # imports modules) when predict loads it, none of which the patch shows; a
            # checkpoint of tensors loads with weights_only=True
            yield Finding("static.dynamic-code", True, "The patch loads a file with pickling "
                          "on, which runs whatever code the file names (a pickle's __reduce__) "
                          "rather than code in the patch; load tensors with weights_only=True.",
                          code.evidence(node))


def _hides(code: Code, node: ast.AST) -> set[str]:
    """The modules whose member `node` itself looks up by a computed name."""
    inner = set().union(*(code.value(c).hidden for c in ast.iter_child_nodes(node)
                          if isinstance(c, ast.expr)))
    return set(code.value(node).hidden) - inner


def _private(code: Code, node: ast.Attribute) -> bool:
    """os._exit, argparse._os, subprocess._args_from_interpreter_flags: a private member of a
    standard library module (whose private names hold other modules and unvetted functions),
    or of a module whose public members the checks know."""
    if not node.attr.startswith("_") or node.attr.startswith("__"):
        return False
    roots = {r.split(".")[0] for r in code.refs(node.value)}
    return bool(roots & (REEXPORTED | STDLIB))


STDLIB = frozenset(sys.stdlib_module_names) - {"builtins"}


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


CHECKS = (check_network, check_processes, check_threads, check_environment, check_seed,
          check_monkeypatch, check_files, check_dynamic_code, check_time, check_opaque)
