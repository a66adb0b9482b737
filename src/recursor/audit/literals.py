"""What a literal says: expressions folded to their value, and encoded payloads decoded.

`Folder` evaluates an expression built only from literals and a few pure functions, the way
the program would at run time: concatenation, slicing and reversal, `%` and `format`,
`chr`/`ord`/`bytes` over lists, comprehensions and `map`, `join`, `translate`, and the
decoders of base64 (every variant), base32/16/85, hex, zlib, gzip, bz2, lzma/xz and `codecs`.
Names are resolved by a callback (the constants of `audit.constants`), so a string assembled
over several statements folds too. Nothing is executed that is not on these lists, and every
step is bounded (sizes, exponents, widths, a step budget): a literal cannot make the auditor
allocate or loop without end.

`layers` decodes a payload heuristically, without the program's help: whatever decodes as
hex, base64/32/85 or a compressed stream is decoded again, to any depth, so that a literal is
judged by what it carries, not by how it is wrapped.
"""

from __future__ import annotations

import ast
import base64
import binascii
import bz2
import codecs
import lzma
import math
import operator
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator

LIMIT = 1 << 22  # the largest value folded or decoded (4 MiB)
STEPS = 200_000  # folding operations per file
MISSING = object()  # "no literal value"


class FoldError(Exception):
    """The expression has no literal value."""


def size(value) -> int:
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    if isinstance(value, list | tuple | set | frozenset):
        return len(value) + sum(size(v) for v in value if not isinstance(v, int | float))
    if isinstance(value, dict):
        return len(value) + sum(size(k) + size(v) for k, v in value.items())
    return 1


# ----------------------------------------------------------------------------- decoding


def decompress(data: bytes, *args, **kwargs) -> bytes:
    """zlib, gzip, bz2, xz or lzma-alone data, recognised by its header; raw deflate when the
    caller gave a negative window (zlib.decompress(data, -15))."""
    data = bytes(data)
    wbits = args[0] if args and isinstance(args[0], int) else kwargs.get("wbits")
    if data[:2] == b"\x1f\x8b":
        out = zlib.decompressobj(31).decompress(data, LIMIT)
    elif data[:3] == b"BZh":
        out = bz2.BZ2Decompressor().decompress(data, LIMIT)
    elif data[:6] == b"\xfd7zXZ\x00" or data[:1] == b"\x5d":
        out = lzma.LZMADecompressor().decompress(data, LIMIT)
    elif isinstance(wbits, int) and wbits < 0:
        out = zlib.decompressobj(wbits).decompress(data, LIMIT)
    elif len(data) > 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
        out = zlib.decompressobj().decompress(data, LIMIT)
    else:
        raise FoldError("not a compressed stream")
    return out


def _codec(data, name: str = "utf-8", errors: str = "strict"):
    key = codecs.lookup(name).name
    if key in ("zlib_codec", "bz2_codec"):
        return decompress(data if isinstance(data, bytes) else data.encode())
    if key not in TEXT_CODECS:
        raise FoldError(f"codec {name} is not folded")
    return codecs.decode(data, name, errors)


TEXT_CODECS = {"rot-13", "hex", "base64", "uu", "quopri", "utf-8", "ascii", "latin-1",
               "iso8859-1", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "unicode-escape",
               "raw-unicode-escape", "punycode", "idna", "cp437", "hex_codec", "base64_codec",
               "uu_codec", "quopri_codec"}


def _b64(data, altchars=None, validate=False):
    return base64.b64decode(data, altchars, validate)


DECODERS: dict[str, Callable] = {
    "b64decode": _b64, "standard_b64decode": base64.standard_b64decode,
    "urlsafe_b64decode": base64.urlsafe_b64decode, "decodebytes": base64.decodebytes,
    "b32decode": base64.b32decode, "b32hexdecode": base64.b32hexdecode,
    "b16decode": base64.b16decode, "b85decode": base64.b85decode, "a85decode": base64.a85decode,
    "a2b_base64": binascii.a2b_base64, "a2b_hex": binascii.a2b_hex,
    "unhexlify": binascii.unhexlify, "a2b_qp": binascii.a2b_qp, "a2b_uu": binascii.a2b_uu,
    "fromhex": bytes.fromhex, "decompress": decompress,
}
ENCODED = {"codecs.decode": _codec, "codecs.encode": _codec}


def entropy(data: bytes | str) -> float:
    """Shannon entropy in bits per symbol (byte or character)."""
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


HEX = re.compile(rb"[0-9a-fA-F]+")
B64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+={0,2}")
B32 = re.compile(rb"[A-Z2-7]+=*")
B85 = re.compile(rb"[0-9A-Za-z!#$%&()*+\-;<=>?@^_`{|}~]+")
A85 = re.compile(rb"(<~)?[!-uz]+(~>)?")
ESCAPED = re.compile(rb"(\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\[0-7]{3})")
NUMBERS = re.compile(rb"-?\d+")
WHITE = re.compile(rb"\s+")
MIN_ENCODED = 16  # shorter text is not tried as an encoding


def _attempt(decode: Callable, *args, **kwargs) -> bytes | None:
    try:
        return decode(*args, **kwargs)
    except (FoldError, binascii.Error, ValueError, UnicodeError, zlib.error, lzma.LZMAError,
            OSError, EOFError):
        return None


def decodings(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Every way `data` decodes in one step: (how, the decoded bytes)."""
    compact = WHITE.sub(b"", data)
    tries: list[tuple[str, Callable, tuple, dict]] = []
    if len(compact) >= MIN_ENCODED:
        if HEX.fullmatch(compact) and len(compact) % 2 == 0:
            tries.append(("hex", bytes.fromhex, (compact.decode(),), {}))
        elif B64.fullmatch(compact) and len(compact) % 4 == 0:
            alt = b"-_" if (b"-" in compact or b"_" in compact) else None
            tries.append(("base64", base64.b64decode, (compact, alt, True), {}))
        if B32.fullmatch(compact) and len(compact) % 8 == 0:
            tries.append(("base32", base64.b32decode, (compact,), {}))
        if B85.fullmatch(compact) and not HEX.fullmatch(compact):
            tries.append(("base85", base64.b85decode, (compact,), {}))
        if A85.fullmatch(compact) and not B64.fullmatch(compact):
            tries.append(("ascii85", base64.a85decode, (compact,),
                          {"adobe": compact.startswith(b"<~")}))
    if len(ESCAPED.findall(data[:4096])) >= 8:
        tries.append(("escapes", lambda d: codecs.decode(d, "unicode_escape").encode("latin-1"),
                      (data,), {}))
    numbers = NUMBERS.findall(data[:1 << 16])
    if len(numbers) >= MIN_ENCODED and sum(map(len, numbers)) * 2 >= len(compact):
        values = [int(x) for x in NUMBERS.findall(data)]
        if all(0 <= v < 256 for v in values):
            tries.append(("numbers", bytes, (values,), {}))
    tries.append(("compressed", decompress, (data,), {}))
    for how, decode, args, kwargs in tries:
        out = _attempt(decode, *args, **kwargs)
        if out is not None:
            yield how, out


def layers(data: bytes, depth: int = 8, budget: int = 64) -> list[tuple[str, bytes]]:
    """`data` and everything it decodes to, to any depth: (the chain of encodings, bytes)."""
    found, todo, seen = [("literal", data)], [("literal", data, 0)], {hash(data)}
    while todo and len(found) < budget:
        how, blob, level = todo.pop()
        if level >= depth:
            continue
        for step, out in decodings(blob):
            key = hash(out)
            if len(out) >= 8 and key not in seen:
                seen.add(key)
                found.append((f"{how}>{step}" if how != "literal" else step, out))
                todo.append((found[-1][0], out, level + 1))
    return found


def payload(value) -> bytes | None:
    """The bytes a literal value carries: a string or bytes, or a list of byte values (or of
    code points) nested any depth; None for anything else."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    numbers = flat_numbers(value)
    if numbers and all(isinstance(v, int) for v in numbers):
        if all(0 <= v < 256 for v in numbers):
            return bytes(numbers)
        if all(0 <= v < 0x110000 for v in numbers):
            return "".join(map(chr, numbers)).encode("utf-8", "surrogatepass")
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return "".join(value).encode("utf-8", "surrogatepass")
    return None


def flat_numbers(value) -> list | None:
    """The numbers of a (nested) list or tuple of numbers, else None."""
    if not isinstance(value, list | tuple):
        return None
    out: list = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif isinstance(item, int | float) and not isinstance(item, bool):
            out.append(item)
        else:
            return None
    return out


# ----------------------------------------------------------------------------- folding

PURE = {"chr": chr, "ord": ord, "str": str, "int": int, "len": len, "abs": abs, "hex": hex,
        "oct": oct, "bin": bin, "bytes": bytes, "bytearray": bytearray, "list": list,
        "tuple": tuple, "reversed": lambda x: list(reversed(x)), "sorted": sorted, "sum": sum,
        "min": min, "max": max, "range": range, "zip": lambda *a: list(zip(*a, strict=False)),
        "enumerate": lambda x, start=0: list(enumerate(x, start)), "dict": dict, "round": round,
        "float": float, "bool": bool, "divmod": divmod}
METHODS = {"join", "decode", "encode", "lower", "upper", "strip", "lstrip", "rstrip", "swapcase",
           "title", "capitalize", "casefold", "replace", "translate", "format", "split", "rsplit",
           "splitlines", "removeprefix", "removesuffix", "zfill", "ljust", "rjust", "center",
           "partition", "rpartition", "startswith", "endswith", "count", "find", "index", "hex",
           "expandtabs", "copy", "get", "keys", "values", "items"}
BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv, ast.BitXor: operator.xor,
          ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.LShift: operator.lshift,
          ast.RShift: operator.rshift, ast.Pow: operator.pow, ast.Div: operator.truediv}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
         ast.Not: operator.not_}
WIDE = re.compile(r"\d{4,}")  # a width or precision that could allocate without bound


class Folder:
    """Folds expressions to literal values; `lookup(name_node)` gives a name's value or
    MISSING, `callee(func_node)` the dotted name a call's function resolves to (or None)."""

    def __init__(self, lookup: Callable[[ast.Name], object],
                 callee: Callable[[ast.AST], str | None]):
        self.lookup, self.callee = lookup, callee
        self.cache: dict[int, object] = {}
        self.steps = 0

    def fold(self, node: ast.AST, env: dict | None = None):
        """The literal value of `node`, or MISSING."""
        if env is None and id(node) in self.cache:
            return self.cache[id(node)]
        try:
            value = self._fold(node, env or {}, 0)
        except (FoldError, Exception):  # whatever does not evaluate is simply not a literal
            value = MISSING
        if value is not MISSING and size(value) > LIMIT:
            value = MISSING
        if env is None:
            self.cache[id(node)] = value
        return value

    def _sub(self, node, env, depth):
        if depth > 60:
            raise FoldError("too deep")
        if not env and id(node) in self.cache:
            value = self.cache[id(node)]
            if value is MISSING:
                raise FoldError("no value")
            return value
        return self._fold(node, env, depth + 1)

    def _fold(self, node: ast.AST, env: dict, depth: int):
        self.steps += 1
        if self.steps > STEPS:
            raise FoldError("budget spent")
        sub = lambda n: self._sub(n, env, depth)  # noqa: E731
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str | bytes | int | float | bool) or node.value is None:
                return node.value
            raise FoldError("not a literal")
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            value = self.lookup(node)
            if value is MISSING:
                raise FoldError(node.id)
            return value
        if isinstance(node, ast.UnaryOp):
            return UNARY[type(node.op)](sub(node.operand))
        if isinstance(node, ast.BinOp):
            return self._binop(node.op, sub(node.left), sub(node.right))
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = [sub(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items) if isinstance(
                node, ast.Tuple) else set(items)
        if isinstance(node, ast.Dict):
            return {sub(k): sub(v) for k, v in zip(node.keys, node.values, strict=True)}
        if isinstance(node, ast.Subscript):
            return self._subscript(node, sub)
        if isinstance(node, ast.JoinedStr):
            return "".join(sub(v) if not isinstance(v, ast.FormattedValue) else
                           self._formatted(v, sub) for v in node.values)
        if isinstance(node, ast.IfExp):
            return sub(node.body) if sub(node.test) else sub(node.orelse)
        if isinstance(node, ast.ListComp | ast.GeneratorExp | ast.SetComp):
            return self._comprehension(node, env, depth)
        if isinstance(node, ast.Call):
            return self._call(node, env, depth, sub)
        raise FoldError(type(node).__name__)

    @staticmethod
    def _binop(op, a, b):
        if isinstance(op, ast.Pow) and (not isinstance(b, int | float) or abs(b) > 4096
                                        or (isinstance(a, int) and abs(a) > 1 << 16)):
            raise FoldError("power too large")
        if isinstance(op, ast.LShift) and b > 4096:
            raise FoldError("shift too large")
        if isinstance(op, ast.Mult):
            seq, n = (a, b) if isinstance(b, int) else (b, a)
            if isinstance(seq, str | bytes | list | tuple) and size(seq) * max(n, 0) > LIMIT:
                raise FoldError("too large")
        if isinstance(op, ast.Mod) and isinstance(a, str | bytes) and (WIDE.search(
                a if isinstance(a, str) else a.decode("latin-1")) or "*" in str(a)):
            raise FoldError("width too large")
        return BINOPS[type(op)](a, b)

    @staticmethod
    def _subscript(node: ast.Subscript, sub):
        s = node.slice
        if not isinstance(s, ast.Slice):
            return sub(node.value)[sub(s)]
        parts = [None if p is None else sub(p) for p in (s.lower, s.upper, s.step)]
        return sub(node.value)[slice(*parts)]

    @staticmethod
    def _formatted(node: ast.FormattedValue, sub) -> str:
        value = sub(node.value)
        spec = sub(node.format_spec) if node.format_spec else ""
        if WIDE.search(spec):
            raise FoldError("width too large")
        value = {115: str, 114: repr, 97: ascii}.get(node.conversion, lambda v: v)(value)
        return format(value, spec)

    def _comprehension(self, node, env: dict, depth: int):
        results: list = []

        def run(generators, scope):
            if not generators:
                results.append(self._sub(node.elt, scope, depth))
                if len(results) > LIMIT:
                    raise FoldError("too long")
                return
            first, rest = generators[0], generators[1:]
            for item in self._sub(first.iter, scope, depth):
                inner = dict(scope)
                _bind(first.target, item, inner)
                if all(self._sub(test, inner, depth) for test in first.ifs):
                    run(rest, inner)

        run(node.generators, env)
        return set(results) if isinstance(node, ast.SetComp) else results

    def _call(self, node: ast.Call, env: dict, depth: int, sub):
        func = node.func
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise FoldError("starred")
        name = self.callee(func) or ""
        if name == "map" and len(node.args) >= 2:  # the function is applied, not folded
            lists = [sub(a) for a in node.args[1:]]
            return [self._apply(node.args[0], env, depth, items)
                    for items in zip(*lists, strict=False)]
        args = [sub(a) for a in node.args]
        kwargs = {k.arg: self._function(k.value, env, depth) if k.arg == "key" else sub(k.value)
                  for k in node.keywords if k.arg}
        if len(kwargs) != len(node.keywords):
            raise FoldError("**kwargs")
        if name in ENCODED:
            return ENCODED[name](*args, **kwargs)
        if name in PURE:
            if name == "range" and len(range(*args)) > LIMIT:
                raise FoldError("range too long")
            if name in ("bytes", "bytearray") and args and isinstance(args[0], int):
                raise FoldError("bytes(n) allocates")
            value = PURE[name](*args, **kwargs)
            return bytes(value) if isinstance(value, bytearray) else value
        if isinstance(func, ast.Attribute):
            if func.attr in DECODERS and (name.startswith(("base64.", "binascii.", "zlib.",
                                                           "gzip.", "bz2.", "lzma."))
                                          or not name or func.attr in ("fromhex", "decompress")):
                return DECODERS[func.attr](*args, **kwargs)
            if func.attr == "maketrans" and isinstance(func.value, ast.Name):
                return (str if func.value.id == "str" else bytes).maketrans(*args)
            receiver = sub(func.value)
            if func.attr in METHODS and isinstance(receiver, str | bytes | list | dict | tuple):
                if any(isinstance(a, int) and abs(a) > 4096 for a in args) and func.attr in (
                        "ljust", "rjust", "center", "zfill", "expandtabs", "format"):
                    raise FoldError("width too large")
                if func.attr == "format" and WIDE.search(receiver):
                    raise FoldError("width too large")
                if func.attr == "replace" and len(args) >= 2 and size(receiver) * max(
                        1, size(args[1])) > LIMIT:
                    raise FoldError("too large")
                if func.attr == "decode" and args:
                    return _codec(receiver, *args, **kwargs)
                value = getattr(receiver, func.attr)(*args, **kwargs)
                return list(value) if func.attr in ("keys", "values", "items") else value
        raise FoldError(f"call of {name or ast.unparse(func)}")

    def _function(self, func: ast.AST, env: dict, depth: int) -> Callable:
        """A key function (sorted(..., key=len)) as a callable over folded values."""
        return lambda *items: self._apply(func, env, depth, items)

    def _apply(self, func: ast.AST, env: dict, depth: int, items: tuple):
        if isinstance(func, ast.Lambda):
            inner = dict(env)
            for arg, item in zip(func.args.args, items, strict=False):
                inner[arg.arg] = item
            return self._sub(func.body, inner, depth)
        name = self.callee(func) or ""
        if name in PURE:
            return PURE[name](*items)
        if isinstance(func, ast.Attribute) and func.attr in DECODERS:
            return DECODERS[func.attr](*items)
        raise FoldError("map of an unknown function")


def _bind(target: ast.AST, value, env: dict) -> None:
    if isinstance(target, ast.Name):
        env[target.id] = value
    elif isinstance(target, ast.Tuple | ast.List):
        values = list(value)
        if len(values) != len(target.elts):
            raise FoldError("cannot unpack")
        for t, v in zip(target.elts, values, strict=True):
            _bind(t, v, env)
    else:
        raise FoldError("target")


bind = _bind
