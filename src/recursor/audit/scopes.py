"""The scopes of one Python file and what binds each name in them.

Every module, class, function, lambda and comprehension is a `Scope`; a name used in one is
looked up as Python does (local, enclosing functions, module, builtins; `global`/`nonlocal`
followed). For each name a scope keeps every way it is bound: an expression assigned to it, an
element of one (a loop, an unpacking), an import, a local definition, or a parameter (whose
values are the arguments of the file's own calls of that function, found by name: direct calls,
methods, lambdas kept in a variable, and `map`, `functools.partial`, `submit` and `Thread`
callbacks). Attributes are kept by name, whatever the object (`self.lib = os` makes every
`.lib` possibly `os`), and so are stores into containers (`tools.append(os)`).

`audit.values` computes what each expression may be from this; nothing here evaluates.
"""

from __future__ import annotations

import ast
import copy
from collections import defaultdict
from dataclasses import dataclass, field

# how a name is bound: ("value", expr, scope) | ("element", expr, scope) | ("import", name, None)
# | ("def", key, None) | ("param", (key, index, name, default, default_scope), None)
# | ("unknown", None, None)
Binding = tuple[str, object, "Scope | None"]

MUTATORS = {"append": 0, "extend": 0, "add": 0, "update": 0, "appendleft": 0, "extendleft": 0,
            "put": 0, "put_nowait": 0, "insert": 1, "setdefault": 1, "__setitem__": 1}
# callbacks: the function is argument 0, its arguments follow (or are elements of the next)
CALLBACK_ARGS = {"partial", "submit", "apply", "apply_async", "run_in_executor", "call_soon"}
CALLBACK_ELEMENTS = {"map", "imap", "imap_unordered", "starmap"}
CALLBACK_TARGETS = {"Thread", "Process", "Timer"}  # target=f, args=(...)


@dataclass(eq=False)
class Scope:
    node: ast.AST
    kind: str  # module, class, function, comprehension
    parent: Scope | None
    key: str = ""  # "@name:line:col" of the definition it is the body of
    bindings: dict[str, list[Binding]] = field(default_factory=lambda: defaultdict(list))
    globals_: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)


@dataclass
class Site:
    """A call of a local function: what each parameter receives there."""

    positional: list[tuple[str, ast.AST]]  # ("value" | "element", expression)
    keywords: dict[str, ast.AST]
    scope: Scope
    offset: int  # 1 when the first parameter is the object a method was called on


class Scopes:
    def __init__(self, tree: ast.Module):
        self.module = Scope(tree, "module", None)
        self.scope_of: dict[int, Scope] = {}  # id(node) -> the scope it is evaluated in
        self.defs: dict[str, ast.AST] = {}  # key -> FunctionDef, Lambda or ClassDef
        self.body: dict[str, Scope] = {}  # key -> the scope of its body
        self.methods: dict[str, list[str]] = defaultdict(list)  # method name -> keys
        self.members: dict[str, dict[str, str]] = defaultdict(dict)  # class key -> name -> key
        self.attributes: dict[str, list[Binding]] = defaultdict(list)  # attribute -> stores
        self.attribute_bases: dict[str, list[str | None]] = defaultdict(list)  # their objects
        self.star_imports: list[str] = []
        self.calls: list[tuple[ast.Call, Scope]] = []
        self.own_names: set[str] = set()  # every def, class and attribute the file names
        self.loads: list[tuple[ast.AST, Scope]] = []  # names and attributes read
        self._called: set[int] = set()  # functions in call position (or passed as callbacks)
        for stmt in tree.body:
            self._visit(stmt, self.module)
        self._sites: dict[str, list[Site]] | None = None
        self._escaped: set[str] | None = None

    # -- lookup ----------------------------------------------------------------------------

    def lookup(self, name: str, scope: Scope) -> Scope | None:
        """The scope whose bindings `name` refers to in `scope` (None: a builtin or unknown)."""
        if name in scope.globals_:
            return self.module if name in self.module.bindings else None
        s, first = scope, True
        while s is not None:
            if (first or s.kind != "class") and name in s.bindings and name not in s.nonlocals:
                return s
            first, s = False, s.parent
        return None

    def of(self, node: ast.AST) -> Scope:
        return self.scope_of.get(id(node), self.module)

    def key_scope(self, key: str) -> Scope | None:
        return self.body.get(key)

    # -- calls of local functions ------------------------------------------------------------

    def sites(self, key: str) -> list[Site]:
        if self._sites is None:
            self._sites = defaultdict(list)
            for call, scope in self.calls:
                self._index_call(call, scope)
        return self._sites.get(key, [])

    @property
    def escaped(self) -> set[str]:
        """Local functions passed on as values (`model.apply(init)`): their callers are not
        all in view, so their parameters may receive anything."""
        if self._escaped is None:
            self._escaped = {key for node, scope in self.loads if id(node) not in self._called
                             for key, _ in self.callees(node, scope)}
        return self._escaped

    def callees(self, func: ast.AST, scope: Scope, depth: int = 0) -> list[tuple[str, int]]:
        """Local functions (key, offset) that calling `func` may run, found by name."""
        if depth > 4:
            return []
        if isinstance(func, ast.Lambda):
            return [(_key(func), 0)]
        out: list[tuple[str, int]] = []
        if isinstance(func, ast.Name):
            where = self.lookup(func.id, scope)
            for kind, payload, at in where.bindings[func.id] if where else []:
                if kind == "def":
                    out += self._callable(payload)
                elif kind == "value" and isinstance(payload, ast.Name | ast.Attribute | ast.Lambda):
                    out += self.callees(payload, at, depth + 1)
        elif isinstance(func, ast.Attribute):
            out += [(k, 0 if _static(self.defs[k]) else 1) for k in self.methods.get(func.attr, [])]
            for kind, payload, at in self.attributes.get(func.attr, []):
                if kind == "value" and isinstance(payload, ast.Name | ast.Attribute | ast.Lambda):
                    out += self.callees(payload, at, depth + 1)
        return out

    def _callable(self, key: str) -> list[tuple[str, int]]:
        if isinstance(self.defs[key], ast.ClassDef):
            init = self.members[key].get("__init__")
            return [(init, 1)] if init else []
        return [(key, 0)]

    def _index_call(self, call: ast.Call, scope: Scope) -> None:
        args = [("element" if isinstance(a, ast.Starred) else "value",
                 a.value if isinstance(a, ast.Starred) else a) for a in call.args]
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        for key, offset in self.callees(call.func, scope):
            self._sites[key].append(Site(args, keywords, scope, offset))
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(
            call.func, "id", "")
        if name in CALLBACK_ARGS | CALLBACK_ELEMENTS and call.args:
            kind = "element" if name in CALLBACK_ELEMENTS else "value"
            for key, offset in self.callees(call.args[0], scope):
                rest = [(kind, a.value if isinstance(a, ast.Starred) else a) for a in call.args[1:]]
                self._sites[key].append(Site(rest, keywords, scope, offset))
        if name in CALLBACK_TARGETS and "target" in keywords:
            given = keywords.get("args")
            rest = ([("value", e) for e in given.elts] if isinstance(given, ast.Tuple | ast.List)
                    else [("element", given)] if given is not None else [])
            for key, offset in self.callees(keywords["target"], scope):
                self._sites[key].append(Site(rest, {}, scope, offset))

    # -- building --------------------------------------------------------------------------

    def bind(self, scope: Scope, name: str, binding: Binding) -> None:
        if name in scope.globals_:
            scope = self.module
        elif name in scope.nonlocals:
            s = scope.parent
            while s is not None and (s.kind != "function" or name not in s.bindings):
                s = s.parent
            scope = s or self.module
        scope.bindings[name].append(binding)

    def _visit(self, node: ast.AST, scope: Scope) -> None:
        self.scope_of[id(node)] = scope
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            self._function(node, scope)
            return
        if isinstance(node, ast.ClassDef):
            key = _key(node)
            self.bind(scope, node.name, ("def", key, None))
            self.own_names.add(node.name)
            for child in [*node.decorator_list, *node.bases, *node.keywords]:
                self._visit(child, scope)
            inner = Scope(node, "class", scope, key)
            self.defs[key], self.body[key] = node, inner
            for stmt in node.body:
                self._visit(stmt, inner)
            return
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            self._comprehension(node, scope)
            return
        self._binds(node, scope)
        for child in ast.iter_child_nodes(node):
            self._visit(child, scope)

    def _function(self, node, scope: Scope) -> None:
        key = _key(node)
        if not isinstance(node, ast.Lambda):
            self.bind(scope, node.name, ("def", key, None))
            self.own_names.add(node.name)
            for d in node.decorator_list:
                self._visit(d, scope)
            if scope.kind == "class":
                self.methods[node.name].append(key)
                self.members[scope.key][node.name] = key
        a = node.args
        for d in [*a.defaults, *(d for d in a.kw_defaults if d is not None)]:
            self._visit(d, scope)
        inner = Scope(node, "function", scope, key)
        self.defs[key], self.body[key] = node, inner
        self.scope_of[id(a)] = inner
        positional = [*a.posonlyargs, *a.args]
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
            inner.bindings[arg.arg].append(("param", (key, i, arg.arg, default, scope), None))
        for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
            inner.bindings[arg.arg].append(("param", (key, None, arg.arg, default, scope), None))
        for arg in (a.vararg, a.kwarg):
            if arg is not None:
                inner.bindings[arg.arg].append(("unknown", None, None))
        for stmt in node.body if isinstance(node.body, list) else [node.body]:
            self._visit(stmt, inner)

    def _comprehension(self, node, scope: Scope) -> None:
        inner = Scope(node, "comprehension", scope)
        for i, gen in enumerate(node.generators):
            at = scope if i == 0 else inner
            self._visit(gen.iter, at)
            self._assign(gen.target, gen.iter, inner, at, "element")
            self._visit(gen.target, inner)
            for test in gen.ifs:
                self._visit(test, inner)
        for part in ("elt", "key", "value"):
            if getattr(node, part, None) is not None:
                self._visit(getattr(node, part), inner)

    def _binds(self, node: ast.AST, scope: Scope) -> None:
        if isinstance(node, ast.Global):
            scope.globals_.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            scope.nonlocals.update(node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                local = a.asname or a.name.split(".")[0]
                self.bind(scope, local, ("import", a.name if a.asname else local, None))
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.name == "*":
                    self.star_imports.append(node.module or "")
                elif node.level or not node.module:
                    self.bind(scope, a.asname or a.name, ("unknown", None, None))
                else:
                    imported = f"{node.module}.{a.name}"
                    self.bind(scope, a.asname or a.name, ("import", imported, None))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._assign(target, node.value, scope, scope)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self._assign(node.target, node.value, scope, scope)
        elif isinstance(node, ast.AugAssign):
            load = _as_load(node.target)
            combined = ast.copy_location(ast.BinOp(load, node.op, node.value), node)
            self.scope_of[id(combined)] = self.scope_of[id(load)] = scope
            self._assign(node.target, combined, scope, scope)
        elif isinstance(node, ast.For | ast.AsyncFor):
            self._assign(node.target, node.iter, scope, scope, "element")
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    self._assign(item.optional_vars, item.context_expr, scope, scope)
        elif isinstance(node, ast.NamedExpr):
            home = scope
            while home.kind == "comprehension" and home.parent is not None:
                home = home.parent
            self._assign(node.target, node.value, home, scope)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            self.bind(scope, node.name, ("unknown", None, None))
        elif isinstance(node, ast.MatchMapping) and node.rest:
            self.bind(scope, node.rest, ("unknown", None, None))
        elif isinstance(node, ast.Call):
            self._call(node, scope)
        elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            self.loads.append((node, scope))

    def _call(self, node: ast.Call, scope: Scope) -> None:
        self.calls.append((node, scope))
        func = node.func
        self._called.add(id(func))
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in CALLBACK_ARGS | CALLBACK_ELEMENTS and node.args:
            self._called.add(id(node.args[0]))
        if name in CALLBACK_TARGETS:
            self._called.update(id(k.value) for k in node.keywords if k.arg == "target")
        if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
            index = MUTATORS[func.attr]
            if len(node.args) > index:
                self._store_into(func.value, node.args[index], scope)
        if (isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) == 3
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            self._store_attribute(node.args[1].value, node.args[0], ("value", node.args[2], scope))

    def _store_into(self, container: ast.AST, value: ast.AST, scope: Scope) -> None:
        if isinstance(container, ast.Name):
            where = self.lookup(container.id, scope)
            if where is not None:
                # "stored": the container now holds the value (so `tools[0].system` resolves),
                # but the container is still what it was bound to (a local list is not a module
                # because a module constant went into it)
                where.bindings[container.id].append(("stored", value, scope))
        elif isinstance(container, ast.Attribute):
            self._store_attribute(container.attr, container.value, ("value", value, scope))
        elif isinstance(container, ast.Subscript):
            self._store_into(container.value, value, scope)

    def _store_attribute(self, attr: str, owner: ast.AST, binding: Binding) -> None:
        self.attributes[attr].append(binding)
        self.attribute_bases[attr].append(_base_name(owner))
        self.own_names.add(attr)

    def _assign(self, target: ast.AST, value: ast.AST, scope: Scope, at: Scope,
                kind: str = "value") -> None:
        if isinstance(target, ast.Name):
            self.bind(scope, target.id, (kind, value, at))
        elif isinstance(target, ast.Starred):
            self._assign(target.value, value, scope, at, "element")
        elif isinstance(target, ast.Tuple | ast.List):
            pairs = (kind == "value" and isinstance(value, ast.Tuple | ast.List)
                     and len(value.elts) == len(target.elts)
                     and not any(isinstance(e, ast.Starred) for e in [*value.elts, *target.elts]))
            for i, t in enumerate(target.elts):
                self._assign(t, value.elts[i] if pairs else value, scope, at,
                             kind if pairs else "element")
        elif isinstance(target, ast.Attribute):
            self._store_attribute(target.attr, target.value, (kind, value, at))
        elif isinstance(target, ast.Subscript):
            self._store_into(target.value, value, at)


def _base_name(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def _key(node: ast.AST) -> str:
    name = getattr(node, "name", "lambda")
    return f"@{name}:{node.lineno}:{node.col_offset}"


def _static(node: ast.AST) -> bool:
    return any(getattr(d, "id", None) == "staticmethod" for d in getattr(node, "decorator_list", []))


def _as_load(target: ast.AST) -> ast.AST:
    """A copy of an assignment target as an expression that reads it (x += 1 reads x); built
    by hand: parsing again could race with another thread's parse (see static._PARSE_LOCK)."""
    load = copy.deepcopy(target)
    for node in ast.walk(load):
        if hasattr(node, "ctx"):
            node.ctx = ast.Load()
    return load
