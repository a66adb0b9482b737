"""Every setting of a run, defined once: name, type, default, help and the values it allows.

The model is two frozen dataclasses (recursor.settings.model) whose fields are declared with
`setting(...)` (recursor.settings.fields): `RunConfig`, what a run stores, and `Launch`, what
starts it. From those declarations come `recursor.run`'s keywords and docstring, the options of
`recursor run` with their help (recursor.cli.options), and the checks every value passes. A new
setting is one field of the model: docs/settings.md shows one added.
"""

from recursor.settings.fields import (
    GROUPS,
    Flag,
    OneOf,
    Range,
    Setting,
    at_least,
    between,
    describe,
    keyword_parameters,
    keywords,
    setting,
    settings_of,
)
from recursor.settings.model import (
    BY_NAME,
    DEFAULT_EXPERIMENTS,
    SETTINGS,
    Launch,
    RunConfig,
    default,
    problems,
)

__all__ = ["BY_NAME", "DEFAULT_EXPERIMENTS", "GROUPS", "SETTINGS", "Flag", "Launch", "OneOf", "Range",
           "RunConfig", "Setting", "at_least", "between", "default", "describe", "keyword_parameters",
           "keywords", "problems", "setting", "settings_of"]
