"""What an expression may be: the modules and members it may refer to, whether it is one of
the program's given paths, whether it carries the seed.

A `Value` is computed per expression from the bindings of `audit.scopes`, through assignments,
parameters, return values, attributes and containers, so an alias of a module is that module
wherever it went (`lib = os`, `def f(m): m.system(...)` called with `os`, `self.tools = [os]`,
`getattr(os, "sys" + "tem")`, `vars(os)["system"]`, `sys.modules["os"]`, `globals()["os"]`,
`importlib.import_module("os")`). An attribute of any module that is itself a module the
checks know is that module (`torch.os`, `numpy.ctypeslib.ctypes`, `logging.handlers.socket`).
A member looked up by a name that cannot be folded is `hidden`: it may be anything the module
holds, which the checks treat as dangerous.

Joins are conservative in the direction of safety: a name may be every module any of its
bindings is (refs: union), it is a given path only when every binding is one (path: all), and
it carries the seed when any binding does.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from recursor.audit.catalogue import CANONICAL, REEXPORTED
from recursor.audit.literals import MISSING
from recursor.audit.scopes import Binding, Scope, Scopes

GIVEN = {"data", "checkpoint", "inputs", "outputs", "progress_fd"}  # args.X: the program's own
BUILTIN_NAMES = frozenset(dir(builtins))
# calls whose result is a path when their first argument is (dirname climbs one folder)
PATH_FUNCTIONS = {"os.path.join", "os.path.dirname", "os.path.abspath", "os.path.realpath",
                  "os.path.normpath", "os.path.splitext", "os.fspath", "str", "pathlib.Path",
                  "pathlib.PurePath", "pathlib.PosixPath", "pathlib.PurePosixPath"}
PATH_METHODS = {"with_suffix", "with_name", "with_stem", "joinpath", "resolve", "absolute",
                "replace", "as_posix", "__fspath__", "removesuffix", "rstrip"}
# calls through which the seed stays the seed (arithmetic and conversions)
SEED_FUNCTIONS = {"int", "float", "abs", "str", "hash", "round", "max", "min", "sum", "divmod"}
# calls whose result holds what their arguments held
CONTAINERS = {"list", "tuple", "set", "frozenset", "sorted", "reversed", "iter", "next", "dict",
              "enumerate", "zip", "copy.copy", "copy.deepcopy", "functools.partial"}
IMPORTERS = {"importlib.import_module", "__import__", "importlib.__import__",
             "importlib.reload"}
LOOKUPS = {"get", "pop", "setdefault", "__getitem__"}  # namespace.get("name")


@dataclass(frozen=True)
class Value:
    refs: frozenset[str] = frozenset()  # dotted names, builtins, local defs ("@name:line:col")
    path: int | None = None  # a given path, climbed this many folders up; None: not one
    seed: bool = False  # the seed given to the program, or arithmetic on it
    hidden: frozenset[str] = frozenset()  # modules whose member it is, by a computed name
    none: bool = False  # the constant None: no path, but no other path either
    # a name's value met again while it is being worked out (x = f(x)): what the other
    # bindings say decides, unless a path is climbed from it (here = dirname(here) in a loop
    # climbs without bound)
    cycle: bool = False

    @property
    def modules(self) -> frozenset[str]:
        return frozenset(r for r in self.refs if not r.startswith("@"))


UNKNOWN, NONE, OPEN = Value(), Value(none=True), Value(none=True, cycle=True)


def join(values: Iterable[Value]) -> Value:
    values = list(values)
    some = [v for v in values if not v.none]
    if not some:
        return NONE if values else UNKNOWN
    paths = [v.path for v in some]
    return Value(frozenset().union(*(v.refs for v in values)),
                 None if None in paths else max(paths), any(v.seed for v in values),
                 frozenset().union(*(v.hidden for v in values)),
                 cycle=any(v.cycle for v in values))


def canonical(name: str) -> str:
    name = name.removeprefix("builtins.")
    head, _, rest = name.partition(".")
    if head in CANONICAL:
        return CANONICAL[head] + (f".{rest}" if rest else "")
    return name


@functools.lru_cache(maxsize=4096)
def own_submodule(module: str, attr: str) -> bool:
    """Whether `module.attr` is a submodule of `module`'s own package, found on disk (nothing
    is imported)."""
    parts = module.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError, AttributeError):
        return False
    for location in (spec.submodule_search_locations or []) if spec else []:
        base = Path(location, *parts[1:], attr)
        if base.is_dir() or base.with_suffix(".py").is_file() or any(
                base.parent.glob(f"{attr}.*.so")):
            return True
    return False


def member(ref: str, attr: str) -> set[str]:
    out = {canonical(f"{ref}.{attr}")}
    # torch.os, logging.handlers.socket: the module itself; and under a private alias, as
    # modules import one another (argparse._os, shutil._os, tempfile._os)
    bare = attr.lstrip("_") if not attr.startswith("__") else attr
    for name in {attr, bare}:
        if name in REEXPORTED and not own_submodule(ref, attr):
            out.add(canonical(name))
    return out


DISPLAYS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


class Values:
    """The Value of every expression of one file, computed on demand and remembered."""

    def __init__(self, scopes: Scopes, fold: Callable[[ast.AST], object],
                 objects: bool = False, given: frozenset[str] = GIVEN):
        """`objects`: what each name IS, leaving out what was stored into it (`x[k] = v`,
        `x.append(v)`) and treating a list, dict or set made here as the program's own: the
        object a store changes, not its contents (see `Code.library_object`). `given`: the
        attributes of the parsed arguments that are paths the harness hands the program."""
        self.scopes, self.fold, self.objects, self.given = scopes, fold, objects, given
        self._memo: dict[tuple[int, int], Value] = {}
        self._names: dict[tuple[int, str], Value] = {}
        self._busy: set[tuple[int, int]] = set()
        self._busy_names: set[tuple[int, str]] = set()
        self._returns: dict[str, list[tuple[ast.AST, Scope]]] = {}
        # cycles cut so far: a value worked out inside a cycle still open is not remembered
        # (from another entry point the cycle is cut elsewhere; only its root's is complete)
        self._cuts = 0

    def _keep(self, cuts: int) -> bool:
        return self._cuts == cuts or not (self._busy or self._busy_names)

    def _settled(self, value: Value) -> Value:
        """A value worked out to its root: the cycles in it are closed."""
        if value.cycle and not (self._busy or self._busy_names):
            return dataclasses.replace(value, cycle=False)
        return value

    def of(self, node: ast.AST, scope: Scope | None = None) -> Value:
        scope = scope or self.scopes.of(node)
        key = (id(node), id(scope))
        if key in self._memo:
            return self._memo[key]
        if key in self._busy:
            self._cuts += 1
            return OPEN  # a cycle (x = x + 1): what the other bindings say decides
        self._busy.add(key)
        cuts = self._cuts
        try:
            value = self._eval(node, scope)
        except RecursionError:
            value = UNKNOWN
        finally:
            self._busy.discard(key)
        value = self._settled(value)
        if self._keep(cuts):
            self._memo[key] = value
        return value

    def name(self, name: str, scope: Scope) -> Value:
        where = self.scopes.lookup(name, scope)
        if where is None:
            if name == "__builtins__":
                return Value(frozenset({"builtins"}))
            refs = {name} if name in BUILTIN_NAMES else set()
            refs |= {canonical(f"{m}.{name}") for m in self.scopes.star_imports}
            return Value(frozenset(refs))
        key = (id(where), name)
        if key in self._names:
            return self._names[key]
        if key in self._busy_names:
            self._cuts += 1
            return OPEN
        self._busy_names.add(key)
        cuts = self._cuts
        try:
            value = join(self.binding(b) for b in where.bindings[name])
        finally:
            self._busy_names.discard(key)
        value = self._settled(value)
        if self._keep(cuts):
            self._names[key] = value
        return value

    def binding(self, binding: Binding) -> Value:
        kind, payload, at = binding
        if self.objects and (kind == "stored" or isinstance(payload, DISPLAYS)):
            return Value(frozenset())
        if kind in ("value", "element", "stored"):
            return self.of(payload, at)
        if kind == "import":
            return Value(frozenset({canonical(payload)}))
        if kind == "def":
            return Value(frozenset({payload}))
        if kind == "param":
            return self._param(*payload)
        return UNKNOWN

    def _param(self, key: str, index: int | None, name: str, default, default_scope) -> Value:
        given: list[Value] = []
        sites = self.scopes.sites(key)
        for site in sites:
            if name in site.keywords:
                given.append(self.of(site.keywords[name], site.scope))
                continue
            i = None if index is None else index - site.offset
            if i is not None and 0 <= i < len(site.positional):
                given.append(self.of(site.positional[i][1], site.scope))
            elif any(kind == "element" for kind, _ in site.positional):
                given.append(join(self.of(e, site.scope) for kind, e in site.positional
                                  if kind == "element"))
            elif default is not None:
                given.append(self.of(default, default_scope))
        if not sites or key in self.scopes.escaped:
            given.append(UNKNOWN)
            if default is not None:
                given.append(self.of(default, default_scope))
        value = join(given)
        if name == "seed":  # a parameter called seed is the seed, whoever passes it
            value = Value(value.refs, value.path, True, value.hidden)
        return value

    # -- expressions -------------------------------------------------------------------------

    def _eval(self, node: ast.AST, scope: Scope) -> Value:
        if isinstance(node, ast.Constant):
            return NONE if node.value is None else UNKNOWN
        if isinstance(node, ast.Name):
            return self.name(node.id, scope)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, scope)
        if isinstance(node, ast.Call):
            return self._call(node, scope)
        if isinstance(node, ast.Subscript):
            return self._subscript(node, scope)
        if isinstance(node, ast.BinOp):
            return self._binop(node, scope)
        if isinstance(node, ast.BoolOp):
            return join(self.of(v, scope) for v in node.values)
        if isinstance(node, ast.IfExp):
            return join([self.of(node.body, scope), self.of(node.orelse, scope)])
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return join(self.of(e, scope) for e in node.elts) if node.elts else UNKNOWN
        if isinstance(node, ast.Dict):
            return join(self.of(v, scope) for v in node.values) if node.values else UNKNOWN
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return self.of(node.elt)
        if isinstance(node, ast.DictComp):
            return self.of(node.value)
        if isinstance(node, ast.Starred | ast.NamedExpr | ast.Await | ast.FormattedValue):
            return self.of(node.value, scope)
        if isinstance(node, ast.JoinedStr):
            first = node.values[0] if node.values else None
            parts = [self.of(v, scope) for v in node.values]
            path = self.of(first, scope).path if isinstance(first, ast.FormattedValue) else None
            return Value(path=path, seed=any(p.seed for p in parts))
        if isinstance(node, ast.Lambda):
            return Value(frozenset({f"@lambda:{node.lineno}:{node.col_offset}"}))
        if isinstance(node, ast.Compare):
            return Value(seed=any(self.of(x, scope).seed for x in [node.left, *node.comparators]))
        if isinstance(node, ast.UnaryOp):
            inner = self.of(node.operand, scope)
            return Value(inner.refs, None, inner.seed, inner.hidden)
        return UNKNOWN

    def _attribute(self, node: ast.Attribute, scope: Scope) -> Value:
        base, attr = self.of(node.value, scope), node.attr
        refs: set[str] = set()
        for r in base.refs:
            if r.startswith("@"):
                refs |= {k for k in [self.scopes.members.get(r, {}).get(attr)] if k}
            else:
                refs |= member(r, attr)
        stores = [self.binding(b) for b in self.scopes.attributes.get(attr, [])]
        if not base.modules:  # an object of the program's: its attribute is what was put there
            refs |= set(self.scopes.methods.get(attr, []))
            refs |= set(join(stores).refs) if stores else set()
        path = None
        if base.cycle and attr in ("parent", "parents"):
            return UNKNOWN  # p = p.parent, in a loop: climbs without bound
        if base.path is not None and attr in ("parent", "parents"):
            path = base.path + (1 if attr == "parent" else 2)
        elif attr in self.given and not base.modules:
            # args.data is given unless the program stores something else in it (an object
            # of another name with an attribute of that name, p.data, is not args)
            owner = getattr(node.value, "id", None)
            same = [v for v, b in zip(stores, self.scopes.attribute_bases.get(attr, []),
                                      strict=False) if b == owner]
            path = join([Value(path=0), *same]).path
        elif stores:
            path = join(stores).path
        seed = (attr == "seed" and not base.modules) or any(v.seed for v in stores)
        return Value(frozenset(refs), path, seed, base.hidden)

    def _subscript(self, node: ast.Subscript, scope: Scope) -> Value:
        base = self.of(node.value, scope)
        refs, hidden = set(), set(base.hidden)
        looked = self._lookup(base, node.slice, scope)
        if looked is not None:
            refs, found_hidden = looked
            hidden |= found_hidden
        else:
            refs = set(base.refs)
        return Value(frozenset(refs), base.path, base.seed, frozenset(hidden))

    def _lookup(self, base: Value, key_node: ast.AST | None,
                scope: Scope) -> tuple[set[str], set[str]] | None:
        """A member of a namespace (a module's __dict__, vars(m), sys.modules, globals()) by
        key; None when `base` is no namespace."""
        spaces = [r for r in base.refs
                  if r.endswith(".__dict__") or r in ("sys.modules", "globals")]
        if not spaces:
            return None
        key = self.fold(key_node) if key_node is not None else MISSING
        refs: set[str] = set()
        hidden: set[str] = set()
        for space in spaces:
            if not isinstance(key, str):
                hidden.add(space.removesuffix(".__dict__"))
            elif space == "sys.modules":
                refs.add(canonical(key))
            elif space == "globals":
                refs |= self.name(key, self.scopes.module).refs
            else:
                refs |= member(space.removesuffix(".__dict__"), key)
        return refs, hidden

    def _binop(self, node: ast.BinOp, scope: Scope) -> Value:
        left, right = self.of(node.left, scope), self.of(node.right, scope)
        if left.cycle and isinstance(node.op, ast.Add | ast.Div):  # p = p + ".json"
            return OPEN if self._pardirs([node.right], scope, 0) == 0 else UNKNOWN
        path = None
        if isinstance(node.op, ast.Add | ast.Div) and not self._absolute(node.right):
            path = left.path
        elif isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) and str(
                node.left.value).startswith("%s"):
            first = node.right.elts[0] if isinstance(node.right, ast.Tuple) else node.right
            path = self.of(first, scope).path
        return Value(left.refs | right.refs, path, left.seed or right.seed,
                     left.hidden | right.hidden)

    def _absolute(self, node: ast.AST) -> bool:
        text = self.fold(node)
        return isinstance(text, str) and (text.startswith(("/", "\\", "~")) or text[1:2] == ":")

    def _call(self, node: ast.Call, scope: Scope) -> Value:
        func = self.of(node.func, scope)
        args = [self.of(a, scope) for a in node.args]
        refs: set[str] = set()
        hidden: set[str] = set(func.hidden)
        path, seed = None, False
        names = func.refs
        first = node.args[0] if node.args else None
        for r in names:
            if r in IMPORTERS and first is not None:
                if r == "importlib.reload":
                    refs |= args[0].refs
                    continue
                key = self.fold(first)
                if isinstance(key, str):
                    refs |= {canonical(key), canonical(key.split(".")[0])}
                else:
                    hidden.add("sys.modules")
            elif r == "getattr" and len(node.args) >= 2:
                key = self.fold(node.args[1])
                base = args[0]
                if isinstance(key, str):
                    refs |= self._member(base, key)
                else:
                    hidden |= base.modules
                if len(args) > 2:
                    refs |= args[2].refs
            elif r == "vars":
                refs |= ({f"{b}.__dict__" for b in args[0].refs} if args else {"globals"})
            elif r in ("globals", "locals"):
                refs.add("globals")
            elif r.startswith("@"):
                refs |= self._returned(r).refs
                seed = seed or self._returned(r).seed
                path = self._returned(r).path if path is None else path
            elif r in CONTAINERS:
                inner = join(args) if args else UNKNOWN
                refs |= inner.refs
                hidden |= inner.hidden
                seed = seed or inner.seed
                path = inner.path if path is None else path
            if r in SEED_FUNCTIONS:
                seed = seed or any(a.seed for a in args)
            if r in PATH_FUNCTIONS and args and path is None:
                rest_absolute = any(self._absolute(a) for a in node.args[1:])
                climb = 1 if r == "os.path.dirname" else 0
                climb = self._pardirs(node.args[1:], scope, climb)
                if args[0].cycle:  # a path built from itself: a climb repeats without bound
                    return OPEN if climb == 0 and not rest_absolute else UNKNOWN
                path = (None if args[0].path is None or rest_absolute or climb is None
                        else args[0].path + climb)
        if isinstance(node.func, ast.Attribute):
            path, refs, hidden = self._method(node, scope, args, path, refs, hidden)
        if isinstance(node.func, ast.Call):  # operator.attrgetter("system")(os)
            maker = self.of(node.func.func, scope).refs
            if maker & {"operator.attrgetter", "operator.methodcaller"} and node.func.args and args:
                key = self.fold(node.func.args[0])
                for part in key.split(".") if isinstance(key, str) else []:
                    refs = set().union(*(member(b, part) for b in (refs or args[0].modules)))
                if not isinstance(key, str):
                    hidden |= args[0].modules
        return Value(frozenset(refs), path, seed, frozenset(hidden))

    def _pardirs(self, parts: list[ast.AST], scope: Scope, climb: int) -> int | None:
        """`climb` plus the folders the joined `parts` climb ('..', os.pardir); None when a
        part's count is not known (`*[os.pardir] * depth`)."""
        for part in parts:
            if isinstance(part, ast.Starred):
                inner = self.of(part.value, scope)
                folded = self.fold(part.value)
                if "os.pardir" in inner.refs or (isinstance(folded, list) and ".." in folded):
                    return None
                continue
            folded = self.fold(part)
            if isinstance(folded, str):
                climb += folded.replace("\\", "/").split("/").count("..")
            elif "os.pardir" in self.of(part, scope).refs:
                climb += 1
        return climb

    def _method(self, node: ast.Call, scope: Scope, args: list[Value], path, refs, hidden):
        owner = self.of(node.func.value, scope)
        attr = node.func.attr
        if attr in LOOKUPS:
            looked = self._lookup(owner, node.args[0] if node.args else None, scope)
            if looked is not None:
                refs, hidden = refs | looked[0], hidden | looked[1]
        elif attr in ("values", "items") and any(
                r.endswith(".__dict__") or r in ("sys.modules", "globals") for r in owner.refs):
            hidden = hidden | {r.removesuffix(".__dict__") for r in owner.refs}
        if path is None and owner.path is not None and attr in PATH_METHODS:
            path = None if any(self._absolute(a) for a in node.args) else owner.path
        if (path is None and attr == "format" and isinstance(node.func.value, ast.Constant)
                and str(node.func.value.value).startswith("{") and args):
            path = args[0].path
        return path, refs, hidden

    def _member(self, base: Value, attr: str) -> set[str]:
        refs = set().union(*(member(r, attr) for r in base.modules)) if base.modules else set()
        if not base.modules:
            refs |= set(self.scopes.methods.get(attr, []))
            stores = [self.binding(b) for b in self.scopes.attributes.get(attr, [])]
            refs |= set(join(stores).refs) if stores else set()
        return refs

    def _returned(self, key: str) -> Value:
        if key not in self._returns:
            self._returns[key] = _returns(self.scopes, key)
        found = self._returns[key]
        if isinstance(self.scopes.defs.get(key), ast.ClassDef):
            return UNKNOWN  # an instance of the program's own class
        return join(self.of(v, s) for v, s in found) if found else NONE


def _returns(scopes: Scopes, key: str) -> list[tuple[ast.AST, Scope]]:
    """The returned expressions of a local function (the body of a lambda); a class gives
    an instance, which is no module."""
    node, scope = scopes.defs.get(key), scopes.key_scope(key)
    if node is None or scope is None or isinstance(node, ast.ClassDef):
        return []
    if isinstance(node, ast.Lambda):
        return [(node.body, scope)]
    found, todo = [], list(node.body)
    while todo:
        stmt = todo.pop()
        if isinstance(stmt, ast.Return) and stmt.value is not None:
            found.append((stmt.value, scope))
        elif not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            todo += [c for c in ast.iter_child_nodes(stmt) if isinstance(c, ast.stmt)]
    return found
