"""Which of a program's functions run with the seed in reach.

The seed is given to training only (`train.py train --seed S`); prediction gets none. A
generator seeded with a constant is a lucky draw where a seed was given, and simply a fixed
choice where none was (a deterministic permutation in `predict`). So a function is *seeded*
when it reads the seed, or is reached from one that does, through the file's references (a
call, a callback, a class whose methods run once it is used); module-level code counts as
seeded too (it runs in training), but does not make everything it names seeded (it names
`main`, which dispatches to both). A function that read the seed before the patch stays seeded.

`readers` also tells whether the program still reads its seed at all from live code (code
reached from the module's top level).
"""

from __future__ import annotations

from collections import defaultdict

from recursor.audit.scopes import Scope, Scopes
from recursor.audit.values import Values

MODULE = ""  # the key of module-level code


def owner(scope: Scope) -> str:
    """The function whose code `scope` runs as: class bodies and comprehensions run in theirs."""
    while scope.kind in ("class", "comprehension") and scope.parent is not None:
        scope = scope.parent
    return scope.key if scope.kind == "function" else MODULE


def qualified(scopes: Scopes) -> dict[str, str]:
    """Key -> dotted name of each definition (`GPT.forward`, `train.inner`)."""
    names: dict[str, str] = {}
    for key, node in scopes.defs.items():
        parts, scope = [getattr(node, "name", "<lambda>")], scopes.body[key].parent
        while scope is not None and scope.key:
            parts.append(getattr(scope.node, "name", "<lambda>"))
            scope = scope.parent
        names[key] = ".".join(reversed(parts))
    return names


class Reach:
    def __init__(self, scopes: Scopes, values: Values):
        self.scopes, self.names = scopes, qualified(scopes)
        self.edges: dict[str, set[str]] = defaultdict(set)
        self.reading: set[str] = set()  # functions that read the seed themselves
        for node, scope in scopes.loads:
            value = values.of(node, scope)
            here = owner(scope)
            self.edges[here] |= {r for r in value.refs if r in scopes.defs}
            if value.seed:
                self.reading.add(here)
        for key, members in scopes.members.items():
            self.edges[key] |= set(members.values())  # a class in use may run any method
        self.live = self._closure({MODULE})

    def readers(self) -> set[str]:
        """Dotted names of the live functions that read the seed."""
        return {self.names.get(k, MODULE) for k in self.reading & self.live}

    def seeded(self, before: set[str]) -> set[str]:
        """Keys of seeded functions (and MODULE); `before` names the readers of the old file."""
        roots = (self.reading - {MODULE}) | {k for k, n in self.names.items() if n in before}
        return self._closure(roots, through_module=False) | {MODULE}

    def _closure(self, roots: set[str], through_module: bool = True) -> set[str]:
        seen, todo = set(roots), list(roots)
        while todo:
            key = todo.pop()
            if key == MODULE and not through_module:
                continue
            for nxt in self.edges.get(key, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

