"""Reading a patch's Python: what it added, what its names refer to, what its strings say.

The static checks (`audit.static`) ask questions of a `Code`: which nodes the patch added (on a
new line, and of a shape the old file has fewer of, so moved code is not a change), what an
expression may refer to (`audit.values`: modules and members through imports, assignments,
parameters, attributes, containers, `getattr`, `__dict__`, `importlib`, `sys.modules`), whether
it is one of the program's given paths or its seed (tracked per scope, through assignments
and calls), and what a string built from literals folds to (`audit.literals` and
`audit.constants`: concatenation, slicing, `chr` in loops and comprehensions, joins,
formatting, base64, hex, zlib, gzip, bz2, lzma, codecs).
"""

from __future__ import annotations

import ast
import difflib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence

from recursor.audit.constants import Constants
from recursor.audit.literals import DECODERS
from recursor.audit.scopes import Scopes
from recursor.audit.values import GIVEN, Value, Values, canonical

__all__ = ["DECODERS", "GIVEN", "Code", "added_nodes", "changed_lines", "matches"]


def changed_lines(old: str, new: str) -> set[int]:
    """Numbers (from 1) of the lines of `new` that the diff from `old` marks as new."""
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    return {j + 1 for tag, _, _, j1, j2 in matcher.get_opcodes() if tag in ("replace", "insert")
            for j in range(j1, j2)}


def added_nodes(old_tree: ast.AST, tree: ast.AST, changed: set[int]) -> list[ast.AST]:
    """Nodes of `tree` the patch added: on a new line, and of a shape `old_tree` has fewer of
    (so that untouched and moved code are left alone)."""
    table: dict[tuple, int] = {}
    before = Counter(_shapes(old_tree, table, {}).values())
    shapes: dict[int, list] = defaultdict(list)
    numbers = _shapes(tree, table, {})
    for node in ast.walk(tree):
        if hasattr(node, "lineno"):
            shapes[numbers[id(node)]].append(node)
    added = []
    for shape, nodes in shapes.items():
        if len(nodes) > before[shape]:
            on_new = [n for n in nodes if changed & set(range(n.lineno, n.end_lineno + 1))]
            added += on_new or nodes
    return sorted(added, key=lambda n: (n.lineno, n.col_offset))


def _shapes(node: ast.AST, table: dict[tuple, int], out: dict[int, int]) -> dict[int, int]:
    """id(node) -> a number per distinct shape (what `ast.dump` shows, positions left out),
    numbered bottom-up in `table`, so a tree costs its size, not its size times its depth."""
    parts: list = [type(node).__name__]
    for _, value in ast.iter_fields(node):
        if isinstance(value, ast.AST):
            parts.append(_shapes(value, table, out)[id(value)])
        elif isinstance(value, list):
            parts.append(tuple(_shapes(v, table, out)[id(v)] if isinstance(v, ast.AST)
                               else (type(v), v) for v in value))
        else:
            parts.append((type(value), repr(value) if isinstance(value, float) else value))
    out[id(node)] = table.setdefault(tuple(parts), len(table))
    return out


class Code:
    """One changed Python file: its lines, the nodes the patch added, and what they mean."""

    def __init__(self, name: str, source: str, tree: ast.Module, added: list[ast.AST],
                 old: tuple[str, ast.Module] | None = None, given: Iterable[str] = ()):
        """`given`: the task's own arguments that the harness fills with paths (`model`),
        beside the ones every program has (`GIVEN`: --data, --checkpoint, ...)."""
        self.name, self.lines, self.added, self.tree = name, source.splitlines(), added, tree
        self.given = GIVEN | frozenset(given)
        self.scopes = Scopes(tree)
        self.constants = Constants(self.scopes, self.qualname)
        self.values = Values(self.scopes, self.fold, given=self.given)
        self._objects: Values | None = None  # built when a store is checked
        self._old, self._before, self._parents = old, None, None
        self.reach = None  # audit.reach.Reach, made by the check that needs it

    @property
    def parents(self) -> dict[ast.AST, ast.AST]:
        if self._parents is None:
            self._parents = {c: n for n in ast.walk(self.tree) for c in ast.iter_child_nodes(n)}
        return self._parents

    @property
    def before(self) -> Code:
        """The file before the patch, read the same way (nothing of it counts as added)."""
        if self._before is None:
            source, tree = self._old or ("", ast.Module(body=[], type_ignores=[]))
            self._before = Code(self.name, source, tree, [], given=self.given)
        return self._before

    def evidence(self, node: ast.AST) -> str:
        line = getattr(node, "lineno", 0)
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        return f"{self.name}:{line}: {text}"

    def fold(self, node: ast.AST):
        """The literal value of `node` (str, bytes, int, list, ...), or MISSING."""
        return self.constants.fold(node)

    def value(self, node: ast.AST) -> Value:
        return self.values.of(node)

    def refs(self, node: ast.AST) -> frozenset[str]:
        """The dotted names of modules, members and builtins `node` may refer to."""
        return self.value(node).modules

    def qualname(self, node: ast.AST) -> str | None:
        """One dotted name `node` refers to (`numpy.random.seed`, `open`), the shortest when
        it may be several (`torch.os.system` is `os.system`); None for the program's own."""
        refs = self.refs(node)
        return min(refs, key=lambda r: (len(r), r)) if refs else None

    def library_object(self, node: ast.AST) -> bool:
        """Whether the object `node` names is a module, a member of one, or builtins (what a
        store into it would change for everyone). A name is what it was bound to, through
        aliases and parameters, not what was stored into it since: a local array that
        received `-math.inf` is the program's own. An element (`mods[0]`) is what it holds."""
        if isinstance(node, ast.Name):
            if self._objects is None:
                self._objects = Values(self.scopes, self.fold, objects=True, given=self.given)
            return bool(self._objects.of(node).modules - {"globals"})
        return bool(self.refs(node) - {"globals"})

    def imported_root(self, node: ast.AST) -> bool:
        """Whether `node` (a.b[c].d) starts from a module or member of one, or builtins."""
        while isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        return bool(self.refs(node) - {"globals"})

    def given_path(self, node: ast.AST) -> bool:
        """Whether `node` is a path built from one given to the program (args.data, ...),
        climbing at most one folder up from it (a file next to the checkpoint is fine), or a
        standard stream's descriptor (0, 1, 2)."""
        path = self.value(node).path
        return (path is not None and path <= 1) or self.fold(node) in (0, 1, 2)

    def seedlike(self, node: ast.AST) -> bool:
        return self.value(node).seed

    def uses(self, table: Sequence[str]) -> Iterator[tuple[ast.AST, str]]:
        """Added imports and references whose resolved name is in `table`."""
        for node in self.added:
            if isinstance(node, ast.Import | ast.ImportFrom):
                prefix = f"{node.module}." if isinstance(node, ast.ImportFrom) else ""
                for a in node.names:
                    name = canonical(prefix + a.name)
                    if matches(name, table) or matches(prefix + a.name, table):
                        yield node, name
            elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load) \
                    or isinstance(node, ast.Call | ast.Subscript):
                name = next((r for r in sorted(self.refs(node), key=len) if matches(r, table)),
                            None)
                if name:
                    yield node, name

    def strings(self) -> Iterator[tuple[ast.AST, str]]:
        """Added string literals and strings folded from literals, docstrings left out."""
        for node in self.added:
            if (isinstance(node, ast.Constant | ast.BinOp | ast.JoinedStr | ast.Call
                           | ast.Subscript)
                    and not isinstance(self.parents.get(node), ast.Expr | ast.Attribute)):
                value = self.fold(node)
                if isinstance(value, str | bytes):
                    yield node, value.decode("latin-1") if isinstance(value, bytes) else value


def matches(name: str, table: Sequence[str]) -> bool:
    return any(name == e or name.startswith(e + ".") or (e.endswith("*") and
               name.startswith(e[:-1])) for e in table)
