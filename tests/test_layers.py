"""The parts import downward only, and the modules import without a cycle.

Read from the code's own imports (the AST of every module under src/recursor), including the
imports inside functions and under TYPE_CHECKING: an import that runs upward is a dependency
the wrong way round however late it runs. The order is docs/extending.md's "Layers".
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "recursor"

# low to high; a part may import its own modules and those of the parts before it
LAYERS: list[set[str]] = [
    {"errors", "harness"},  # stdlib only: the harness kit runs inside a task's harness process
    {"store", "patch"},
    {"judge", "task"},
    {"executor", "discoveries", "audit", "policy"},
    {"proposer"},
    {"settings"},
    {"value"},
    {"loop"},
    {"report"},
    {"api"},
    {"meta", "selfplay"},  # above the API: the meta-research harness and the self-play driver
                           # run research runs through it
    {"ui"},
    {"cli"},
]
RANK = {part: i for i, layer in enumerate(LAYERS) for part in layer}
# what a module below the API may read from a bare `import recursor`: the package's own facts,
# not the API that `recursor.__getattr__` loads
ROOT_FACTS = {"__version__", "__file__"}


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _part(module: str) -> str:
    bits = module.split(".")
    return bits[1] if len(bits) > 1 else "recursor"


def _imports(path: Path, top_level_only: bool = False) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import of a recursor module in `path`."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "recursor":  # `from recursor import patch`: the submodules named
                for alias in node.names:
                    yield f"recursor.{alias.name}", node.lineno
            elif node.module.startswith("recursor."):
                yield node.module, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "recursor" or alias.name.startswith("recursor."):
                    yield alias.name, node.lineno


def _root_uses(path: Path) -> set[str]:
    """The attributes a module reads from a bare `import recursor`."""
    tree = ast.parse(path.read_text())
    if not any(isinstance(n, ast.Import) and any(a.name == "recursor" and a.asname is None
                                                 for a in n.names) for n in ast.walk(tree)):
        return set()
    return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "recursor"}


def test_every_part_has_a_layer():
    parts = {_part(name) for name, _ in _modules()} - {"recursor"}
    assert parts <= set(RANK), f"parts with no layer: {sorted(parts - set(RANK))}"


def test_no_part_imports_a_higher_one():
    upward = []
    for name, path in _modules():
        src = _part(name)
        if src == "recursor":  # the package's __init__ loads the API lazily, by design
            continue
        for target, line in _imports(path):
            dst = _part(target)
            if dst == "recursor":
                continue  # a bare `import recursor`: test_a_bare_import_reads_only_facts
            if dst != src and RANK[dst] > RANK[src]:
                upward.append(f"{path.relative_to(SRC.parent)}:{line} {src} -> {target}")
    assert not upward, "imports from a lower part to a higher one:\n" + "\n".join(upward)


def test_a_bare_import_of_the_package_reads_only_its_facts_below_the_api():
    offenders = {}
    for name, path in _modules():
        src = _part(name)
        if src == "recursor" or RANK.get(src, -1) >= RANK["api"]:
            continue
        used = _root_uses(path) - ROOT_FACTS
        if used:
            offenders[name] = sorted(used)
    assert not offenders, f"modules below the API reading it through `recursor.`: {offenders}"


def test_no_import_cycle_among_modules():
    names = {name for name, _ in _modules()}
    graph: dict[str, set[str]] = {}
    for name, path in _modules():
        deps = set()
        for target, _ in _imports(path, top_level_only=True):
            # `from recursor.a import b` may name the module recursor.a.b: take the longest known
            while target not in names and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in names and target != name:
                deps.add(target)
        graph[name] = deps
    cycles = _strongly_connected(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(sorted(c)) for c in cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("source,expected", [
    ("from recursor.loop.config import RunConfig\n", ["recursor.loop.config"]),
    ("from recursor import patch as p, store\n", ["recursor.patch", "recursor.store"]),
    ("def f():\n    import recursor.api\n", ["recursor.api"]),
    ("from .x import y\nimport os\n", []),
])
def test_the_reader_sees_every_kind_of_import(tmp_path, source, expected):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert [m for m, _ in _imports(path)] == expected


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _strongly_connected(graph) == [{"a", "b", "c"}]
