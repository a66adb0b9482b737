"""The literal values names hold, statement by statement.

Each scope's statements are run on literal values only: assignments, `+=`, `append`, loops
over literal sequences (bounded), branches whose test folds (both sides otherwise, keeping what
they agree on). A name read in a statement gets the value it had just before it, so a string
assembled in a loop (`s += chr(c)`), a list of parts joined later, or a parameter every call
passes the same literal to, fold like a literal. Everything else is simply unknown: nothing
the program computes from data is evaluated.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from recursor.audit.literals import MISSING, Folder, FoldError, bind
from recursor.audit.scopes import Scope, Scopes

CONFLICT = object()  # a name read in a loop whose value changes between iterations
ITERATIONS = 10_000  # of one loop
STATEMENTS = 100_000  # simulated per file


class Constants:
    def __init__(self, scopes: Scopes, callee: Callable[[ast.AST], str | None]):
        self.scopes = scopes
        self.folder = Folder(self.lookup, callee)
        self._at: dict[int, object] = {}  # id(Name read) -> its value there
        self._final: dict[int, dict[str, object]] = {}  # id(scope) -> names -> value at its end
        self._started: set[int] = set()
        self._statements = 0

    def fold(self, node: ast.AST):
        return self.folder.fold(node)

    def lookup(self, node: ast.Name):
        scope = self.scopes.of(node)
        where = self.scopes.lookup(node.id, scope)
        if where is None:
            return MISSING
        self._simulate(where)
        value = self._at.get(id(node), MISSING) if id(node) in self._at else self._final.get(
            id(where), {}).get(node.id, MISSING)
        return MISSING if value is CONFLICT else value

    # -- simulation --------------------------------------------------------------------------

    def _simulate(self, scope: Scope) -> None:
        if id(scope) in self._started:
            return
        self._started.add(id(scope))
        env = self._parameters(scope) if scope.kind == "function" else {}
        body = getattr(scope.node, "body", None)
        if isinstance(body, list):
            self._block(body, env, scope)
        self._final[id(scope)] = env

    def _parameters(self, scope: Scope) -> dict:
        """Parameters every call of the file passes the same literal to."""
        env = {}
        for name, bindings in scope.bindings.items():
            params = [b[1] for b in bindings if b[0] == "param"]
            if len(params) != 1 or len(bindings) != 1 or scope.key in self.scopes.escaped:
                continue
            key, index, _, _, _ = params[0]
            seen = set()
            for site in self.scopes.sites(key):
                arg = site.keywords.get(name)
                i = None if index is None else index - site.offset
                if arg is None and i is not None and 0 <= i < len(site.positional):
                    kind, arg = site.positional[i]
                    arg = arg if kind == "value" else None
                value = self.folder.fold(arg) if arg is not None else MISSING
                seen.add(repr(value) if value is not MISSING else None)
                if value is MISSING or len(seen) > 1:
                    break
                env[name] = value
            if len(seen) != 1 or None in seen:
                env.pop(name, None)
        return env

    def _block(self, stmts: list[ast.stmt], env: dict, scope: Scope) -> str | None:
        for stmt in stmts:
            signal = self._stmt(stmt, env, scope)
            if signal:
                return signal
        return None

    def _fold(self, node: ast.AST | None, env: dict):
        if node is None:
            return MISSING
        return self.folder.fold(node, {k: v for k, v in env.items() if v is not MISSING} or None) \
            if env else self.folder.fold(node)

    def _stmt(self, stmt: ast.stmt, env: dict, scope: Scope) -> str | None:
        self._statements += 1
        if self._statements > STATEMENTS:
            _forget(stmt, env)
            return None
        self._record(stmt, env, scope)
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            value = self._fold(stmt.value, env)
            for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                self._assign(target, value, env)
        elif isinstance(stmt, ast.AugAssign):
            self._augment(stmt, env)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            self._mutate(stmt.value, env)
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            return self._loop(stmt, env, scope)
        elif isinstance(stmt, ast.If):
            test = self._fold(stmt.test, env)
            if test is not MISSING:
                return self._block(stmt.body if test else stmt.orelse, env, scope)
            left, right = dict(env), dict(env)
            self._block(stmt.body, left, scope)
            self._block(stmt.orelse, right, scope)
            env.clear()
            env.update({k: v for k, v in left.items()
                        if k in right and type(right[k]) is type(v) and right[k] == v})
        elif isinstance(stmt, ast.While):
            _forget(stmt, env)
            self._block(stmt.body, env, scope)
            _forget(stmt, env)
            self._block(stmt.orelse, env, scope)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                if item.optional_vars is not None:
                    _forget_target(item.optional_vars, env)
            return self._block(stmt.body, env, scope)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            self._block(stmt.body, env, scope)
            for handler in stmt.handlers:
                _forget(handler, env)
            self._block(stmt.orelse, env, scope)
            self._block(stmt.finalbody, env, scope)
        elif isinstance(stmt, ast.Break | ast.Continue | ast.Return):
            return type(stmt).__name__.lower()
        else:
            _forget(stmt, env)  # definitions, imports, deletions, match: their names unknown
        return None

    def _loop(self, stmt: ast.For | ast.AsyncFor, env: dict, scope: Scope) -> str | None:
        items = self._fold(stmt.iter, env)
        if isinstance(items, dict):
            items = list(items)
        if not isinstance(items, list | tuple | str | bytes | range) or len(items) > ITERATIONS:
            _forget(stmt, env)
            self._block(stmt.body, env, scope)
            _forget(stmt, env)
            return None
        for item in items:
            try:
                bind(stmt.target, item, env)
            except FoldError:
                _forget(stmt, env)
                return None
            signal = self._block(stmt.body, env, scope)
            if signal in ("break", "return"):
                return signal if signal == "return" else None
        return self._block(stmt.orelse, env, scope)

    def _assign(self, target: ast.AST, value, env: dict) -> None:
        if value is MISSING:
            _forget_target(target, env)
            return
        try:
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                container, key = env.get(target.value.id, MISSING), self._fold(target.slice, env)
                if isinstance(container, list | dict) and key is not MISSING:
                    container = container.copy()
                    container[key] = value
                    env[target.value.id] = container
                    return
                raise FoldError("unknown container")
            bind(target, value, env)
        except (FoldError, TypeError, IndexError, KeyError):
            _forget_target(target, env)

    def _augment(self, stmt: ast.AugAssign, env: dict) -> None:
        if not isinstance(stmt.target, ast.Name):
            _forget_target(stmt.target, env)
            return
        current, value = env.get(stmt.target.id, MISSING), self._fold(stmt.value, env)
        try:
            if current is MISSING or value is MISSING:
                raise FoldError("unknown")
            env[stmt.target.id] = Folder._binop(stmt.op, current, value)
        except Exception:  # an operation that does not fold leaves the name unknown
            env.pop(stmt.target.id, None)

    def _mutate(self, call: ast.Call, env: dict) -> None:
        func = call.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return
        name = func.value.id
        current = env.get(name, MISSING)
        if func.attr not in ("append", "extend", "insert", "update", "add"):
            if func.attr in ("pop", "remove", "clear", "reverse", "sort", "discard"):
                env.pop(name, None)
            return
        args = [self._fold(a, env) for a in call.args]
        if current is MISSING or MISSING in args:
            env.pop(name, None)
            return
        try:
            current = current.copy()
            getattr(current, func.attr)(*args)
            env[name] = current
        except Exception:  # a mutation that fails at run time: the value is unknown
            env.pop(name, None)

    def _record(self, stmt: ast.stmt, env: dict, scope: Scope) -> None:
        """Remember what each name the statement reads holds at this point."""
        for node in _reads(stmt):
            if self.scopes.lookup(node.id, self.scopes.of(node)) is not scope:
                continue
            value = env.get(node.id, MISSING)
            seen = self._at.get(id(node), value)
            self._at[id(node)] = value if (type(seen) is type(value) and seen == value) \
                else CONFLICT


HEADERS = {ast.If: ("test",), ast.While: ("test",), ast.For: ("iter",), ast.AsyncFor: ("iter",),
           ast.With: ("items",), ast.AsyncWith: ("items",), ast.Match: ("subject",),
           ast.FunctionDef: ("decorator_list", "args"), ast.AsyncFunctionDef: ("decorator_list",
                                                                              "args"),
           ast.ClassDef: ("decorator_list", "bases", "keywords"), ast.Try: (), ast.TryStar: ()}


def _reads(stmt: ast.stmt):
    """The names a statement reads itself (a compound statement: its header only)."""
    parts = HEADERS.get(type(stmt))
    roots = [stmt] if parts is None else [
        x for p in parts for x in (getattr(stmt, p) if isinstance(getattr(stmt, p), list)
                                   else [getattr(stmt, p)])]
    for root in roots:
        for node in ast.walk(root):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                yield node


def _forget(stmt: ast.AST, env: dict) -> None:
    """Forget every name `stmt` may bind (its nested function bodies left out)."""
    todo = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            env.pop(node.id, None)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            env.pop(node.name, None)
            continue
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for a in node.names:
                env.pop((a.asname or a.name).split(".")[0], None)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(
                node.func.value, ast.Name):
            env.pop(node.func.value.id, None)  # parts.append(...) in a loop not followed
        todo += list(ast.iter_child_nodes(node))


def _forget_target(target: ast.AST, env: dict) -> None:
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            env.pop(node.id, None)
