"""A task's settings space (task.toml's `[[space]]`): reading a program's settings at the space's
keys, and writing new values into its TOML files.

A sampler (recursor.proposer.sampled) proposes values for the space's keys; this module turns
them into new file contents. The text is edited line by line where it can be, so comments,
layout and every key outside the space stay exactly as they were; each edit is checked by
reading the file back, and where the line edit cannot do it (a key written as an inline table,
a table declared by dotted keys) the file is written out whole from its parsed contents, which
keeps every key and value but not the comments. No TOML writer is a dependency of recursor, and
the space's values are only strings, numbers and booleans.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from recursor.task.spec import SpaceSpec

MISSING: Any = object()  # a key the file does not set

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_TABLE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(?:#.*)?$")
_ARRAY_TABLE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^(\s*)({_DOTTED})(\s*=\s*)(.*?)(\r?\n)?$")


def lookup(data: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key of parsed TOML, MISSING if the file does not set it."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def in_space(spec: SpaceSpec, value: Any) -> Any:
    """`value` as the space holds it (a choice as declared, a range's number as int or float),
    or MISSING when the space does not hold it."""
    if spec.choices is not None:
        for choice in spec.choices:
            if type(choice) is type(value) and choice == value:
                return choice
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return MISSING
    if spec.integer and not (isinstance(value, int) or value.is_integer()):
        return MISSING
    if not spec.low <= value <= spec.high:
        return MISSING
    return int(value) if spec.integer else float(value)


def kind_problem(spec: SpaceSpec, value: Any) -> str | None:
    """Why a file's value at the key is not a setting of the space's kind (None if it is; a
    value of the right kind outside the range or the choices is fine: it is the parent's)."""
    if isinstance(value, Mapping):
        return "is a table, not a value"
    if spec.choices is not None:
        kinds = {type(c) for c in spec.choices}
        if type(value) not in kinds and not (float in kinds and type(value) is int):
            return f"holds {value!r}, not a value of the kind of its choices"
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or (spec.integer and not isinstance(value, int)):
        return f"holds {value!r}, not {'a whole number' if spec.integer else 'a number'}"
    return None


def space_problems(space: Sequence[SpaceSpec], files: Mapping[str, str]) -> list[str]:
    """What in the program's files keeps the space from being written: a file that is not
    valid TOML, a key whose value is of another kind, a key under a value that is no table."""
    problems = []
    for name in dict.fromkeys(s.file for s in space):
        try:
            data = tomllib.loads(files[name])
        except KeyError:
            continue  # a missing program file is said by load_task already
        except tomllib.TOMLDecodeError as err:
            problems.append(f"{name} is named in [[space]] but is not valid TOML: {err}")
            continue
        for s in (s for s in space if s.file == name):
            where = f"[[space]] {name}: {s.key}"
            parts = s.key.split(".")
            for i in range(1, len(parts)):
                above = lookup(data, ".".join(parts[:i]))
                if above is not MISSING and not isinstance(above, Mapping):
                    problems.append(f"{where}: {'.'.join(parts[:i])} is a value, not a table")
                    break
            else:
                value = lookup(data, s.key)
                why = None if value is MISSING else kind_problem(s, value)
                if why:
                    problems.append(f"{where} {why}")
    return problems


def write_values(text: str, values: Mapping[str, Any]) -> str:
    """`text` (a TOML file) with each dotted key of `values` set to its value: edited line by
    line, every other line kept as it is, or written out whole where that cannot be done.
    ValueError if a key lies under a value that is not a table."""
    want = tomllib.loads(text)
    for key, value in values.items():
        _assign(want, key, value)
    edited = text
    for key, value in values.items():
        edited = _edit_line(edited, key.split("."), value)
        if edited is None:
            break
    if edited is not None and _reads_as(edited, want):
        return edited
    whole = dumps(want)
    if not _reads_as(whole, want):  # a value no TOML writer here can express
        raise ValueError("the settings file cannot be written back with these values")
    return whole


def _assign(data: dict[str, Any], key: str, value: Any) -> None:
    *tables, leaf = key.split(".")
    node = data
    for i, part in enumerate(tables):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"{'.'.join(tables[:i + 1])} is a value, not a table; "
                             f"{key} cannot be set")
    node[leaf] = value


def _reads_as(text: str, want: Mapping[str, Any]) -> bool:
    try:
        return tomllib.loads(text) == want
    except tomllib.TOMLDecodeError:
        return False


def _key_parts(dotted: str) -> list[str]:
    parts = re.findall(_KEY_PART, dotted)
    return [json.loads(p) if p.startswith('"') else p.strip("'") for p in parts]


def _edit_line(text: str, path: list[str], value: Any) -> str | None:
    """The key's value line replaced, or a line added where its table is; None when the file's
    layout has no such place (the caller then writes the file whole). The caller reads the
    result back: a layout this scan misreads is caught there."""
    lines = text.splitlines(keepends=True)
    table: list[str] | None = []  # None: inside an array of tables, never the space's
    last: dict[tuple[str, ...], int] = {}  # table -> its last line holding a key or its header
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _ARRAY_TABLE.match(line):
            table = None
        elif m := _TABLE.match(line):
            table = _key_parts(m.group(1))
            last[tuple(table)] = i
        elif m := _ASSIGN.match(line):
            # a value over several lines (a multi-line string or array): its lines are not keys
            end = _value_last_line(lines, i, m.group(4))
            if table is not None and table + _key_parts(m.group(2)) == path:
                old = _value_end(m.group(4))
                if old is None:
                    return None
                lines[i] = (m.group(1) + m.group(2) + m.group(3) + toml_value(value)
                            + m.group(4)[old:] + (m.group(5) or ""))
                return "".join(lines)
            if table is not None:
                last[tuple(table)] = end
            i = end
        i += 1
    leaf, where = path[-1], tuple(path[:-1])
    entry = f"{_key(leaf)} = {toml_value(value)}\n"
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if where in last:
        lines.insert(last[where] + 1, entry)
    elif not where:
        lines.insert(0, entry)
    else:
        lines += [*(["\n"] if lines else []), f"[{'.'.join(_key(p) for p in where)}]\n", entry]
    return "".join(lines)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _value_last_line(lines: list[str], i: int, rest: str) -> int:
    """The line where the value that starts on line i (`rest`, after its `=`) ends."""
    for quotes in ('"""', "'''"):
        if rest.startswith(quotes):
            if quotes in rest[3:]:
                return i
            j = i + 1
            while j < len(lines) and quotes not in lines[j]:
                j += 1
            return min(j, len(lines) - 1)
    depth, j, part = 0, i, rest
    while True:
        bare = _STRING.sub("", part).split("#", 1)[0]
        depth += bare.count("[") + bare.count("{") - bare.count("]") - bare.count("}")
        if depth <= 0 or j + 1 >= len(lines):
            return j
        j += 1
        part = lines[j]


def _value_end(rest: str) -> int | None:
    """Where a one-line scalar value ends in the text after `=` (its comment is kept); None
    for what spans lines or holds brackets (multi-line strings, arrays, inline tables)."""
    if rest.startswith(('"""', "'''", "[", "{")):
        return None
    if rest.startswith('"'):
        m = re.match(r'"(?:[^"\\]|\\.)*"', rest)
        return m.end() if m else None
    if rest.startswith("'"):
        end = rest.find("'", 1)
        return end + 1 if end > 0 else None
    cut = rest.find("#")
    return len(rest[:cut].rstrip()) if cut >= 0 else len(rest.rstrip())


def toml_value(value: Any) -> str:
    """One TOML value: a string, number, boolean, date or time, array or inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        # JSON's escapes are TOML's; TOML also forbids a raw DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007F")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"{value!r} is not a TOML value")


def dumps(data: Mapping[str, Any]) -> str:
    """A TOML document of parsed TOML: values first, then tables, then arrays of tables."""
    out: list[str] = []
    _table(out, copy.deepcopy(dict(data)), [])
    return "".join(out).lstrip("\n")


def _table(out: list[str], data: Mapping[str, Any], path: list[str]) -> None:
    def is_tables(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)

    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping) and not is_tables(v)}
    for k, v in scalars.items():
        out.append(f"{_key(k)} = {toml_value(v)}\n")
    for k, v in data.items():
        if isinstance(v, Mapping):
            out.append(f"\n[{'.'.join(_key(p) for p in [*path, k])}]\n")
            _table(out, v, [*path, k])
        elif is_tables(v):
            for item in v:
                out.append(f"\n[[{'.'.join(_key(p) for p in [*path, k])}]]\n")
                _table(out, item, [*path, k])


def _key(part: str) -> str:
    return part if _BARE.fullmatch(part) else json.dumps(part, ensure_ascii=False)
