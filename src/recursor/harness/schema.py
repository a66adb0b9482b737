"""The shape of `RECURSOR_CONFIG`, the JSON file recursor hands every harness, as a JSON Schema
(draft 2020-12), and a small check of a config against it.

The check reads the keywords this schema uses (type, required, properties,
additionalProperties, items, enum, pattern, minimum, minItems) and no others: the kit runs in
the harness's process and needs nothing beyond the standard library. docs/harness.md shows
the same schema; a test keeps the two, and the config the loop builds, in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PATH = {"type": "string", "description": "an absolute path"}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "RECURSOR_CONFIG",
    "description": "What recursor hands a harness for one experiment: one program, one seed, "
                   "one evaluation.",
    "type": "object",
    "required": ["task", "seed", "workspace", "data", "budget", "settings", "evaluation",
                 "sandbox", "parent_usage", "metrics_file", "scratch", "program_log", "limits"],
    "additionalProperties": False,
    "properties": {
        "task": {"type": "string", "description": "task.toml's name"},
        "seed": {"type": "integer",
                 "description": "the seed to run the program with; the harness passes it on"},
        "workspace": {**_PATH, "description":
                      "a fresh copy of the candidate's program files (task.toml program.files "
                      "with the candidate's changes), inside the scratch folder; read-only to "
                      "the program under bwrap"},
        "data": {
            "type": "array",
            "description": "task.toml's [[data]] files, found and verified by recursor",
            "items": {
                "type": "object",
                "required": ["name", "path", "sha256"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "path": _PATH,
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
            },
        },
        "budget": {"type": "object", "description": "task.toml's [budget], as written",
                   "additionalProperties": {"type": ["number", "string"]}},
        "settings": {"type": "object", "description": "task.toml's [settings], as written"},
        "evaluation": {
            "type": "object",
            "description": "the evaluation to run: task.toml's [[evaluations]] entry of that "
                           "name (its own keys included), or just the metric's name",
            "required": ["name", "held_out", "seeds"],
            "properties": {
                "name": {"type": "string",
                         "description": "the metric the result must hold, by this name"},
                "held_out": {"type": "boolean"},
                "seeds": {"type": "integer", "minimum": 1},
            },
        },
        "sandbox": {
            "type": "object",
            "description": "the sandbox every run of the program must go through",
            "required": ["kind", "describe", "protections", "prefix"],
            "additionalProperties": False,
            "properties": {
                "kind": {"enum": ["bwrap", "unshare", "none"]},
                "describe": {"type": "string"},
                "protections": {
                    "type": "object",
                    "required": ["network", "filesystem", "processes", "environment",
                                 "memory", "cpu_time"],
                    "additionalProperties": False,
                    "properties": {key: {"type": "boolean"} for key in (
                        "network", "filesystem", "processes", "environment", "memory",
                        "cpu_time")},
                },
                "prefix": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                           "description": "run the program as prefix + [REPORT_FD, '--', "
                                          "*argv]"},
            },
        },
        "parent_usage": {"type": "array", "items": {"type": "object"},
                         "description": "the `usage` the harness reported in the parent's "
                                        "results of this evaluation; empty for the baseline"},
        "metrics_file": {**_PATH, "description": "where the harness writes curve points and "
                                                 "the result, one JSON object per line"},
        "scratch": {**_PATH, "description": "the program's only writable folder"},
        "program_log": {**_PATH, "description": "where the program's output goes (outside "
                                                "the scratch folder: not the program's to "
                                                "read)"},
        "limits": {
            "type": "object",
            "description": "task.toml's [limits], which recursor enforces on the harness",
            "required": ["timeout_seconds", "memory_mb", "threads"],
            "additionalProperties": False,
            "properties": {
                "timeout_seconds": {"type": "number"},
                "memory_mb": {"type": "integer"},
                "threads": {"type": "integer", "minimum": 1},
            },
        },
    },
}

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float), "null": (type(None),),
}


def config_problems(config: Any, schema: Mapping[str, Any] = CONFIG_SCHEMA,
                    where: str = "config") -> list[str]:
    """Every way `config` departs from `schema`, one line each; empty when it conforms."""
    problems: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is(config, t) for t in names):
            return [f"{where}: expected {' or '.join(names)}, got {type(config).__name__}"]
    if "enum" in schema and config not in schema["enum"]:
        problems.append(f"{where}: {config!r} is not one of {schema['enum']}")
    if "pattern" in schema and isinstance(config, str) and not re.search(schema["pattern"],
                                                                         config):
        problems.append(f"{where}: {config!r} does not match {schema['pattern']}")
    if "minimum" in schema and _is(config, "number") and config < schema["minimum"]:
        problems.append(f"{where}: {config} is below {schema['minimum']}")
    if isinstance(config, list):
        if len(config) < schema.get("minItems", 0):
            problems.append(f"{where}: fewer than {schema['minItems']} items")
        for i, item in enumerate(config):
            problems += config_problems(item, schema.get("items", {}), f"{where}[{i}]")
    if isinstance(config, dict):
        properties = schema.get("properties", {})
        problems += [f"{where}: '{key}' is missing" for key in schema.get("required", ())
                     if key not in config]
        extra = schema.get("additionalProperties", True)
        for key, value in config.items():
            if key in properties:
                problems += config_problems(value, properties[key], f"{where}.{key}")
            elif extra is False:
                problems.append(f"{where}: '{key}' is not a documented key")
            elif isinstance(extra, dict):
                problems += config_problems(value, extra, f"{where}.{key}")
    return problems


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False  # JSON's true is not 1
    return isinstance(value, _TYPES[kind])
