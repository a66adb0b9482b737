"""Reading a patch's Python: what it added, what its names refer to, what its strings say.

The static checks (`audit.static`) ask questions of a `Code`: which nodes the patch added (on a
new line, and of a shape the old file has fewer of, so moved code is not a change), what a name
resolves to through the file's imports, `getattr`, `__import__` and `sys.modules`, whether a
value is one of the program's given paths or its seed, and what a string built from literals
folds to (concatenation, slicing, joins, base64, zlib, hex, rot13).
"""

from __future__ import annotations

import ast
import base64
import binascii
import builtins
import codecs
import difflib
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence

GIVEN = {"data", "checkpoint", "inputs", "outputs", "progress_fd"}  # args.X: the program's own

DECODERS = {name: getattr(base64, name) for name in ("b64decode", "urlsafe_b64decode",
                                                     "b32decode", "b16decode", "b85decode",
                                                     "a85decode")}
DECODERS |= {"fromhex": bytes.fromhex, "unhexlify": binascii.unhexlify,
             "decompress": lambda data: zlib.decompressobj().decompress(data, 1 << 20)}
TEXT_CODECS = {"rot13", "rot_13", "hex", "hex_codec", "base64", "base64_codec"}
STR_METHODS = {"join", "decode", "encode", "lower", "upper", "strip", "swapcase"}  # none grows
LIMIT = 1 << 20  # the largest string folded


def changed_lines(old: str, new: str) -> set[int]:
    """Numbers (from 1) of the lines of `new` that the diff from `old` marks as new."""
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    return {j + 1 for tag, _, _, j1, j2 in matcher.get_opcodes() if tag in ("replace", "insert")
            for j in range(j1, j2)}


def added_nodes(old_tree: ast.AST, tree: ast.AST, changed: set[int]) -> list[ast.AST]:
    """Nodes of `tree` the patch added: on a new line, and of a shape `old_tree` has fewer of
    (so that untouched and moved code are left alone)."""
    before = Counter(ast.dump(n) for n in ast.walk(old_tree))
    shapes: dict[str, list] = defaultdict(list)
    for node in ast.walk(tree):
        if hasattr(node, "lineno"):
            shapes[ast.dump(node)].append(node)
    added = []
    for shape, nodes in shapes.items():
        if len(nodes) > before[shape]:
            on_new = [n for n in nodes if changed & set(range(n.lineno, n.end_lineno + 1))]
            added += on_new or nodes
    return sorted(added, key=lambda n: (n.lineno, n.col_offset))


class Code:
    """One changed Python file: its lines, the nodes the patch added, and name resolution."""

    def __init__(self, name: str, source: str, tree: ast.Module, added: list[ast.AST]):
        self.name, self.lines, self.added = name, source.splitlines(), added
        self.parents = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
        self.aliases: dict[str, str] = {}  # local name -> what it was imported as
        bound: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    top = a.name.split(".")[0]
                    self.aliases[a.asname or top] = a.name if a.asname else top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
        self.builtins = (set(dir(builtins)) - bound) | {"__builtins__"}
        # names holding one of the program's given paths, or the seed (with no call between)
        self.path_names: set[str] = set()
        self.seed_names = {"seed"}
        flows = [(n.targets if isinstance(n, ast.Assign) else [n.target],
                  n.iter if isinstance(n, ast.For) else n.value) for n in ast.walk(tree)
                 if isinstance(n, ast.Assign | ast.AnnAssign | ast.For | ast.NamedExpr)
                 and getattr(n, "value", True) is not None]
        for _ in range(3):
            for targets, value in flows:
                names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
                if self.given_path(value):
                    self.path_names |= names
                if self.seedlike(value) and not any(isinstance(n, ast.Call)
                                                    for n in ast.walk(value)):
                    self.seed_names |= names

    def evidence(self, node: ast.AST) -> str:
        line = getattr(node, "lineno", 0)
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        return f"{self.name}:{line}: {text}"

    def qualname(self, node: ast.AST) -> str | None:
        """The dotted name `node` refers to (`numpy.random.seed`, `open`) if it is a module, a
        member of an imported module or a builtin; else None."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            if node.id in self.builtins:
                return "builtins" if node.id == "__builtins__" else node.id
        elif isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}".removeprefix("builtins.") if base else None
        elif isinstance(node, ast.Call) and node.args:
            func = self.qualname(node.func)
            if func in ("__import__", "importlib.import_module"):
                name = fold(node.args[0])
                return name if isinstance(name, str) else None
            if func == "getattr" and len(node.args) >= 2:
                base, attr = self.qualname(node.args[0]), fold(node.args[1])
                ok = base and isinstance(attr, str)
                return f"{base}.{attr}".removeprefix("builtins.") if ok else None
            return self.qualname(node.args[0]) if func == "vars" else None
        elif isinstance(node, ast.Subscript):  # sys.modules["x"], m.__dict__["x"], vars(m)["x"]
            key, base = fold(node.slice), self.qualname(node.value)
            if isinstance(key, str) and base:
                base = base.removesuffix(".__dict__")
                return key if base == "sys.modules" else f"{base}.{key}".removeprefix("builtins.")
        return None

    def imported_root(self, node: ast.AST) -> bool:
        """Whether `node` (a.b[c].d) starts from an imported module or member, or builtins."""
        while isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        if isinstance(node, ast.Call) and self.qualname(node.func) in ("vars", "__import__"):
            return True
        return isinstance(node, ast.Name) and (node.id in self.aliases or node.id == "__builtins__")

    def given_path(self, node: ast.AST) -> bool:
        """Whether `node` is a path built from one given to the program (args.data, ...),
        climbing at most one folder up from it (a file next to the checkpoint is fine)."""
        nodes = list(ast.walk(node))
        climbs = sum((isinstance(n, ast.Call) and self.qualname(n.func) == "os.path.dirname")
                     + 2 * (getattr(n, "attr", None) == "parents")
                     + (getattr(n, "attr", None) == "parent") for n in nodes)
        return climbs <= 1 and any(
            (isinstance(n, ast.Attribute) and n.attr in GIVEN and isinstance(n.value, ast.Name)
             and n.value.id == "args") or (isinstance(n, ast.Name) and n.id in self.path_names)
            for n in nodes)

    def seedlike(self, node: ast.AST) -> bool:
        return any((isinstance(n, ast.Attribute) and n.attr == "seed"
                    and isinstance(n.value, ast.Name) and n.value.id not in self.aliases)
                   or (isinstance(n, ast.Name) and n.id in self.seed_names) for n in ast.walk(node))

    def uses(self, table: Sequence[str]) -> Iterator[tuple[ast.AST, str]]:
        """Added imports and references whose resolved name is in `table`."""
        for node in self.added:
            if isinstance(node, ast.Import | ast.ImportFrom):
                prefix = f"{node.module}." if isinstance(node, ast.ImportFrom) else ""
                yield from ((node, prefix + a.name) for a in node.names
                            if matches(prefix + a.name, table))
            elif isinstance(node, ast.Name | ast.Attribute | ast.Call | ast.Subscript):
                name = self.qualname(node)
                if name and matches(name, table):
                    yield node, name

    def strings(self) -> Iterator[tuple[ast.AST, str]]:
        """Added string literals and strings folded from literals, docstrings left out."""
        for node in self.added:
            if (isinstance(node, ast.Constant | ast.BinOp | ast.JoinedStr | ast.Call
                           | ast.Subscript) and not isinstance(self.parents.get(node), ast.Expr)):
                value = fold(node)
                if isinstance(value, str | bytes):
                    yield node, value.decode("latin-1") if isinstance(value, bytes) else value


def matches(name: str, table: Sequence[str]) -> bool:
    return any(name == e or name.startswith(e + ".") or (e.endswith("*") and
               name.startswith(e[:-1])) for e in table)


def _size(value) -> int:
    return sum(map(_size, value)) + len(value) if isinstance(value, list) else (
        len(value) if isinstance(value, str | bytes) else 1)


def fold(node: ast.AST, depth: int = 0):
    """The value of an expression built only from literals (str, bytes, int, lists), else None."""
    if depth > 30:
        return None
    try:
        value = _fold_step(node, lambda n: fold(n, depth + 1))
    except Exception:  # whatever does not evaluate is simply not a literal
        return None
    return value if value is None or _size(value) <= LIMIT else None


def _fold_step(node: ast.AST, sub):
    if isinstance(node, ast.Constant):
        ok = isinstance(node.value, str | bytes | int) and not isinstance(node.value, bool)
        return node.value if ok else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -sub(node.operand)
    if isinstance(node, ast.List | ast.Tuple):
        items = [sub(e) for e in node.elts]
        return None if None in items else items
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return sub(node.left) + sub(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        a, b = sub(node.left), sub(node.right)
        seq, n = (a, b) if isinstance(b, int) else (b, a)
        return seq * n if _size(seq) * n <= LIMIT else None  # no folding into a memory bomb
    if isinstance(node, ast.Subscript):
        s = node.slice
        if not isinstance(s, ast.Slice):
            return sub(node.value)[sub(s)]
        parts = [(p, None if p is None else sub(p)) for p in (s.lower, s.upper, s.step)]
        ok = all(p is None or v is not None for p, v in parts)
        return sub(node.value)[slice(*(v for _, v in parts))] if ok else None
    if isinstance(node, ast.JoinedStr):
        parts = [sub(v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values]
        return None if None in parts else "".join(map(str, parts))
    if isinstance(node, ast.Call) and not node.keywords:
        args, func = [sub(a) for a in node.args], node.func
        if None in args:
            return None
        if isinstance(func, ast.Name) and func.id in ("chr", "bytes", "bytearray"):
            return chr(*args) if func.id == "chr" else bytes(*args) if isinstance(
                args[0], list) else None
        if isinstance(func, ast.Attribute):
            if func.attr in DECODERS:
                return DECODERS[func.attr](*args)
            receiver = sub(func.value)
            if isinstance(receiver, str | bytes) and func.attr in STR_METHODS:
                return getattr(receiver, func.attr)(*args)
            if func.attr == "decode" and len(args) == 2 and args[1] in TEXT_CODECS:
                return codecs.decode(*args)  # codecs.decode(text, "rot13")
    return None
