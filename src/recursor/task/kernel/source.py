"""Reading a KernelBench problem's source without running it: its size constants, whether it
defines a name, its Model's docstring, and the source with `Model` renamed `ModelNew`.

Everything here works on the AST and the tokens; nothing in the problem is executed (the
importer runs it only in a separate process, see `recursor.task.kernel.importer`).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

__all__ = ["defines", "model_doc", "rename_model", "size_constants"]


def size_constants(tree: ast.Module) -> dict[str, int]:
    """Module-level names bound to an int constant expression, in the order of the file."""
    env: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            pairs = [p for t in node.targets for p in _pairs(t, node.value)]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            pairs = _pairs(node.target, node.value)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            pairs = [(n, None) for n in _target_names(node.target)]
        else:
            for n in _bound_names(node):
                env.pop(n, None)
            continue
        values = [(n, _const_int(v, env) if v is not None else None) for n, v in pairs]
        for n, v in values:
            env.pop(n, None)
            if v is not None:
                env[n] = v
    return env


def _pairs(target: ast.expr, value: ast.expr) -> list[tuple[str, ast.expr | None]]:
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, ast.Tuple | ast.List):
        if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts):
            return [p for t, v in zip(target.elts, value.elts, strict=True) for p in _pairs(t, v)]
        return [(n, None) for n in _target_names(target)]
    return []


def _target_names(target: ast.expr) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _bound_names(node: ast.stmt) -> list[str]:
    """Names a module-level statement may bind (looking inside if/for/with/try blocks)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    names = []
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.append(n.id)
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(n.name)
        elif isinstance(n, ast.Import | ast.ImportFrom):
            names += [(a.asname or a.name).split(".")[0] for a in n.names]
    return names


_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Pow: lambda a, b: a**b,
}
_BIG = 1 << 62


def _const_int(node: ast.expr, env: dict[str, int]) -> int | None:
    """The int value of numbers, known constants and + - * // **; None for anything else."""

    def ev(n: ast.expr) -> int | float:
        if isinstance(n, ast.Constant) and type(n.value) in (int, float):
            return n.value
        if isinstance(n, ast.Name) and n.id in env:
            return env[n.id]
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub | ast.UAdd):
            v = ev(n.operand)
            return -v if isinstance(n.op, ast.USub) else v
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            a, b = ev(n.left), ev(n.right)
            if isinstance(n.op, ast.Pow) and (not 0 <= b <= 64 or abs(a) > _BIG):
                raise ValueError("power too large")
            if isinstance(n.op, ast.FloorDiv) and b == 0:
                raise ValueError("division by zero")
            v = _OPS[type(n.op)](a, b)
            if abs(v) > _BIG:
                raise ValueError("too large")
            return v
        raise ValueError("not a constant expression")

    try:
        v = ev(node)
    except (ValueError, OverflowError, TypeError):
        return None
    return v if type(v) is int else None


def rename_model(source: str, old: str = "Model", new: str = "ModelNew") -> str:
    """`source` with the class `old` and every reference to that name renamed `new`.

    Works on the AST and the tokens: a Name or class statement called exactly `old` changes,
    while attributes (`x.Model`), strings, comments and other names (`MyModel`) do not.
    Raises ValueError if the source does not bind `old` or already uses `new`.
    """
    tree = ast.parse(source)
    lines = source.split("\n")

    def char_col(row: int, byte_col: int) -> int:
        return len(lines[row - 1].encode()[:byte_col].decode(errors="replace"))

    names = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in (old, new)]
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name in (old, new)]
    if any(n.id == new for n in names) or any(c.name == new for c in classes):
        raise ValueError(f"it already uses the name {new}")
    wanted = {(n.lineno, char_col(n.lineno, n.col_offset)) for n in names}
    class_lines = {(c.lineno, char_col(c.lineno, c.col_offset)) for c in classes}
    bound = bool(classes) or any(isinstance(n.ctx, ast.Store) for n in names)
    if not bound:
        raise ValueError(f"it defines no class {old}")

    spots: list[tuple[int, int]] = []
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME]
    for i, tok in enumerate(tokens):
        if tok.string == old and tok.start in wanted:
            spots.append(tok.start)
            wanted.discard(tok.start)
        elif (
            tok.string == "class"
            and tok.start in class_lines
            and i + 1 < len(tokens)
            and tokens[i + 1].string == old
        ):
            spots.append(tokens[i + 1].start)
    if wanted:
        row = min(wanted)[0]
        raise ValueError(f"cannot rename {old} at line {row} (inside an f-string?)")
    for row, col in sorted(spots, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + len(old) :]
    return "\n".join(lines)


def drop_functions(source: str, names: tuple[str, ...]) -> str:
    """`source` without its top-level functions `names`, where nothing left in it uses them.

    A solution need not carry the problem's input makers (the harness calls the reference's):
    a model asked for the whole file leaves them out, and a whole file is checked against what
    the old one defined."""
    tree = ast.parse(source)
    doomed = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    if not doomed:
        return source
    lines = source.split("\n")
    gone = set()
    for node in doomed:
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        gone.update(range(first, node.end_lineno + 1))
    kept = "\n".join(line for i, line in enumerate(lines, 1) if i not in gone)
    used = {n.id for n in ast.walk(ast.parse(kept)) if isinstance(n, ast.Name)}
    if used & {n.name for n in doomed}:
        return source
    return re.sub(r"\n{4,}", "\n\n\n", kept).rstrip("\n") + "\n"


def defines(tree: ast.Module, name: str) -> bool:
    """Whether module-level code may bind `name` (a def, an assignment, an import)."""
    for node in tree.body:
        if name in _bound_names(node):
            return True
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return True
    return False


def model_doc(tree: ast.Module) -> str:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Model":
            doc = ast.get_docstring(node) or ""
            return " ".join(doc.split("\n\n")[0].split())
    return ""
