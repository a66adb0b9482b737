"""How a setting is declared, checked and shown: the machinery of the settings model.

A field of the model is declared with `setting(...)`; `settings_of` reads a model's fields back
as `Setting`s, which `recursor.run` (its keywords and docstring: `keyword_parameters`,
`keywords`, `describe`) and `recursor run` (recursor.cli.options) are made from.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import textwrap
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# the groups, in the order `recursor run --help` and `help(recursor.run)` show them
BUDGET, TASK, SEARCH, JUDGE = "budget", "task", "search", "judge"
STOPPING, PROPOSER, EXECUTOR = "early stopping", "proposer", "executor"
DISCOVERIES, TRACKING = "discoveries", "tracking"
GROUPS = (BUDGET, TASK, SEARCH, JUDGE, STOPPING, PROPOSER, EXECUTOR, DISCOVERIES, TRACKING)

_KEY = "recursor.setting"  # the field metadata key of a declaration


class _Same:
    def __repr__(self) -> str:
        return "SAME"


SAME: Any = _Same()  # a keyword or option that is the setting itself, in type or default


@dataclass(frozen=True)
class Range:
    """Numbers from `low` up to `high` (None: no upper bound); `open` excludes both bounds."""

    low: float
    high: float | None = None
    open: bool = False

    def problem(self, name: str, value: Any) -> str | None:
        if isinstance(value, float) and math.isinf(value):
            return f"{name} must be a finite number (got {value})"
        try:
            above = value > self.low if self.open else value >= self.low
            below = self.high is None or (value < self.high if self.open else value <= self.high)
        except TypeError:
            return f"{name} must be a number (got {value!r})"
        return None if above and below else f"{name} must be {self.allows()} (got {value})"

    def allows(self) -> str:
        if self.high is not None:
            return f"between {self.low:g} and {self.high:g}"
        if self.low == 0:
            return "positive" if self.open else "0 or more"
        return f"more than {self.low:g}" if self.open else f"at least {self.low:g}"


def at_least(low: float) -> Range:
    return Range(low)


def between(low: float, high: float, *, open: bool = False) -> Range:
    return Range(low, high, open)


POSITIVE = Range(0, open=True)


@dataclass(frozen=True)
class OneOf:
    """One of a list of names, or with `each` a sequence of them. `names` may be a function:
    the registries of policies and executors and the list of personas are read when a value is
    checked, so that this module imports none of them."""

    names: tuple[str, ...] | Callable[[], Iterable[str]]
    each: bool = False
    noun: str | None = None  # what a message calls one value (default: the setting's name)

    def allowed(self) -> tuple[str, ...]:
        return tuple(self.names() if callable(self.names) else self.names)

    def problem(self, name: str, value: Any) -> str | None:
        allowed = self.allowed()
        choose = ", ".join(allowed[:-1]) + " or " + allowed[-1] if len(allowed) > 1 else allowed[0]
        if self.each:
            unknown = [str(v) for v in value if v not in allowed]
            if unknown:
                return f"unknown {self.noun or name}(s) {', '.join(unknown)}; choose {choose}"
        elif value not in allowed:
            return f"unknown {self.noun or name} {value!r}; choose {choose}"
        return None


@dataclass(frozen=True)
class Flag:
    """An option of `recursor run` that gives a setting under another name or in parts."""

    name: str  # the command's parameter; its option is --name-with-dashes unless `decls`
    type: Any
    help: str | None = None  # None: the setting's
    default: Any = None
    decls: tuple[str, ...] = ()


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Declared:
    """What `setting(...)` records on a field; `Setting` adds the field's name, type, default."""

    group: str
    help: str
    check: Range | OneOf | None = None
    api: Any = SAME
    api_default: Any = SAME
    cli: Any = SAME
    flags: tuple[Flag, ...] = ()
    from_cli: Callable[..., Any] = _same
    to_stored: Callable[[Any], Any] = _same


def setting(default: Any, group: str, help: str, *, check: Range | OneOf | None = None,
            api: Any = SAME, api_default: Any = SAME, cli: Any = SAME,
            flags: tuple[Flag, ...] = (), from_cli: Callable[..., Any] = _same,
            to_stored: Callable[[Any], Any] = _same) -> Any:
    """Declare a field of the model as a setting.

    `check` is the values it allows. `api` and `api_default` are `recursor.run`'s keyword when
    it takes more than the model holds (a Path for a str, a Proposer object for a name), and
    `to_stored` turns the keyword's value into the model's. `recursor run` gives it as one
    option named after it, typed `cli` (default: the field's type), or as `flags`, whose values
    `from_cli` turns into the keyword's value."""
    declared = Declared(group, help, check, api, api_default, cli, flags, from_cli, to_stored)
    if isinstance(default, dict | list):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata={_KEY: declared})
    return dataclasses.field(default=default, metadata={_KEY: declared})


def declared(field: dataclasses.Field) -> Declared:
    found = field.metadata.get(_KEY)
    if found is None:
        raise TypeError(f"the settings model's field {field.name} is not declared with setting()")
    return found


def _default(field: dataclasses.Field) -> Any:
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def problem(name: str, check: Range | OneOf | None, value: Any, default: Any) -> str | None:
    """What is wrong with a setting's value; None passes where it is the default (unset)."""
    if check is None or (value is None and default is None):
        return None
    return check.problem(name, value)


def problems_of(model: Any) -> list[str]:
    """What is wrong with a model's values, field by field."""
    found = [problem(f.name, declared(f).check, getattr(model, f.name), _default(f))
             for f in dataclasses.fields(model)]
    return [p for p in found if p]


def from_keywords(cls: type, values: Mapping[str, Any]) -> Any:
    """A model of `recursor.run`'s keyword values, each turned into what the model holds."""
    return cls(**{f.name: declared(f).to_stored(values[f.name]) for f in dataclasses.fields(cls)})


# -- the model as every surface sees it

@dataclass(frozen=True)
class Setting:
    """One setting, with everything `recursor.run` and `recursor run` need of it."""

    name: str
    group: str
    help: str
    type: Any  # as the model holds it
    default: Any
    stored: bool  # a field of the config the run stores
    check: Range | OneOf | None
    api_type: Any  # recursor.run's keyword
    api_default: Any
    flags: tuple[Flag, ...]  # recursor run's options
    from_cli: Callable[..., Any]  # the flags' values, in their order -> the keyword's value


def settings_of(config: type, launch: type) -> tuple[Setting, ...]:
    """The settings of a model, by group: the stored ones of `config`, and those of `launch`."""
    found = []
    for cls, stored in ((config, True), (launch, False)):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            d, kind, default = declared(f), hints[f.name], _default(f)
            flags = d.flags or (Flag(f.name, kind if d.cli is SAME else d.cli, d.help, default),)
            found.append(Setting(
                f.name, d.group, d.help, kind, default, stored, d.check,
                kind if d.api is SAME else d.api,
                default if d.api_default is SAME else d.api_default, flags, d.from_cli))
    return tuple(sorted(found, key=lambda s: GROUPS.index(s.group)))


def keyword_parameters(settings: Sequence[Setting]) -> list[inspect.Parameter]:
    """`recursor.run`'s setting keywords, for its signature."""
    return [inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, default=s.api_default,
                              annotation=s.api_type) for s in settings]


def keywords(given: Mapping[str, Any], settings: Sequence[Setting],
             function: str = "run") -> dict[str, Any]:
    """Every setting's keyword value: the given ones, and the defaults of the others. An unknown
    keyword is a TypeError, as it is for a function that spells its keywords out."""
    known = {s.name for s in settings}
    for name in given:
        if name not in known:
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")
    return {s.name: given.get(s.name, s.api_default) for s in settings}


def describe(settings: Sequence[Setting], indent: str = "") -> str:
    """The settings' keywords and help by group, as a docstring's text."""
    lines = []
    for group in GROUPS:
        mine = [s for s in settings if s.group == group]
        if mine:
            lines.append(f"\n{group.capitalize()}:")
        for s in mine:
            kind = inspect.formatannotation(s.api_type)
            for module in ("collections.abc.", "pathlib.", "typing."):
                kind = kind.replace(module, "")
            lines.append(f"    {s.name}: {kind} = {s.api_default!r}")
            lines.append(textwrap.fill(s.help.replace("\\[", "["), 96, initial_indent=" " * 8,
                                       subsequent_indent=" " * 8, break_on_hyphens=False,
                                       break_long_words=False))
    return textwrap.indent("\n".join(lines), indent) + "\n"
