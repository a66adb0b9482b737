"""Names a model's patch leaves undefined, found before an experiment is spent on them.

Measured with a 1.5B model on tiny-lm: three of five proposals that applied then crashed at
once with `NameError: name 'self' is not defined` (a hyperparameter written as
`self.block_size = 32` at module level). A person reading such a patch would send it back
unrun. pyflakes (a well-kept checker that reads code without running it) names the undefined
names of the patched file; those the parent's file did not have are the patch's, and go back to
the model with their lines, as a patch that does not apply does. Without pyflakes installed
(`pip install 'recursor[llm]'` brings it) the check is skipped and the experiment says it.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping


def _undefined(text: str, path: str) -> dict[str, int] | None:
    """name -> first line where it is used undefined; None when the file does not parse (the
    auditor names a syntax error) or pyflakes is not installed."""
    try:
        from pyflakes import checker, messages
    except ImportError:
        return None
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError:
        return None
    found: dict[str, int] = {}
    for m in checker.Checker(tree, filename=path).messages:
        if isinstance(m, messages.UndefinedName):
            found.setdefault(m.message_args[0], m.lineno)
    return found


def new_undefined_names(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """What to tell the model about names the patch leaves undefined ('' for none)."""
    problems = []
    for path, text in after.items():
        if not path.endswith(".py") or text == before.get(path):
            continue
        now = _undefined(text, path)
        if not now:
            continue
        was = _undefined(before.get(path, ""), path) or {}
        lines = text.splitlines()
        for name, line in sorted(now.items(), key=lambda item: item[1]):
            if name not in was:
                quoted = lines[line - 1].strip() if 0 < line <= len(lines) else ""
                problems.append(f"{path} line {line}: `{quoted}` uses `{name}`, which is not "
                                "defined there")
    if not problems:
        return ""
    return ("the patched program would stop with a NameError before training: "
            + "; ".join(problems[:3]) + ". Write the change where that name exists (a "
            "setting at the top of the file is a plain name, with no `self.`), or define it.")
