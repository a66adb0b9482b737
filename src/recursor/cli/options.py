"""The options of `recursor run`, made from the settings model (recursor.settings).

Each setting is one option named after it (`--stop-risk`, `--heldout/--no-heldout`), or the
flags it declares (`--set`, repeated `--model`, `--embeddings-model` with `--embeddings-url`);
help and default are the model's. The values are checked by the model, not here, so that the
command line and the Python API report a bad value in the same words.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from recursor.settings import BY_NAME, Flag, Setting


def option(flag: Flag, setting: Setting, panel: bool = True) -> Any:
    """The annotation that makes `flag` a typer option (under its group's heading in --help)."""
    return Annotated[flag.type, typer.Option(
        *flag.decls, help=flag.help or setting.help,
        rich_help_panel=setting.group.capitalize() if panel else None)]


def option_of(name: str) -> Any:
    """The option of a one-flag setting, for another command that takes it as `recursor run`
    does (`--set`, `--mlflow`)."""
    (flag,) = BY_NAME[name].flags
    return option(flag, BY_NAME[name], panel=False)


def parameters(settings: Sequence[Setting]) -> list[inspect.Parameter]:
    """One keyword parameter per flag of each setting, for a command's signature."""
    return [inspect.Parameter(flag.name, inspect.Parameter.KEYWORD_ONLY, default=flag.default,
                              annotation=option(flag, s))
            for s in settings for flag in s.flags]


def keywords(settings: Sequence[Setting], given: dict[str, Any]) -> dict[str, Any]:
    """`recursor.run`'s keywords from the values of the options `parameters` made."""
    return {s.name: s.from_cli(*(given[flag.name] for flag in s.flags)) for s in settings}
