"""The research process as a file: what a search over research processes may change.

A process file (`meta.toml`) states how recursor researches, not what it finds: how the built-in
library orders its ideas, how the search picks parents, where the value function stops, and
the shape of the LLM researchers' brief. Each key is a run setting (recursor.settings.model),
so a process file is a typed subset of the run settings, checked by the same checks:

    [ideas]
    rule = "bandit"          # tiers | cheapest | prior | bandit
    exploration = 0.5        # bandit: UCB constant over idea categories
    weights = { optimizer = 2.0 }   # prior: by idea category (a feature), never by an idea

    [search]
    policy = "best-first"
    exploration = 1.0
    descendant_credit = 0.5

    [stopping]
    early_stop = true
    risk = 0.02
    test_risk = 0.15

    [researcher]
    personas = ["optimizer", "architecture"]
    library_share = 0.25
    brief = "compact"        # auto | full | compact
    brief_ideas = 6

Everything else is frozen: what judges a process (the judge's level, the seeds, the share of
stops audited, the held-out evaluations, budgets, the sandbox, the auditor) is not the process's
to change, and a file that names any of it is refused with the reason, as is any key recursor
does not know. Nothing in the file is free text: a process that could write words into the
brief, or weight ideas by name, could carry a task's answers into the runs that judge it.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recursor.errors import SettingsError

# what judges a process, by the words a process file might use for it, and why it is frozen
FROZEN = {
    "alpha": "the judge's level is what every verdict is held to",
    "seeds": "the seeds are the judge's evidence",
    "confirm_max": "the judge's confirmation seeds are the judge's evidence",
    "stop_audit": "the share of stops audited is how a wrong stop is found",
    "audit": "the share of stops audited is how a wrong stop is found",
    "heldout": "the held-out evaluations are how a gain is shown to generalise",
    "held_out": "the held-out evaluations are how a gain is shown to generalise",
    "experiments": "the budget is what processes are compared at",
    "minutes": "the budget is what processes are compared at",
    "budget": "the budget is what processes are compared at",
    "overrides": "the task's settings, harness and budgets are the task's, not the process's",
    "sandbox": "the sandbox is what keeps a candidate honest",
    "auditor": "the auditor is what keeps a candidate honest",
    "objective": "the metric is the task's",
    "tasks": "the tasks a process is judged on are the benchmark's, not the process's",
    "discoveries": "the discovery library would carry answers into the runs that judge a process",
}


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ideas(_Table):
    rule: str = "tiers"
    exploration: float = 1.0
    weights: dict[str, float] = Field(default_factory=dict)


class Search(_Table):
    policy: str = "best-first"
    exploration: float = 1.0
    descendant_credit: float = 0.0


class Stopping(_Table):
    early_stop: bool = True
    risk: float = 0.02
    test_risk: float = 0.15


class Researcher(_Table):
    personas: tuple[str, ...] = ()
    library_share: float = 0.25
    brief: str = "auto"
    brief_ideas: int | None = None
    brief_history: int | None = None


class Process(_Table):
    """A research process: a validated process file. Its defaults are the run settings'."""

    ideas: Ideas = Field(default_factory=Ideas)
    search: Search = Field(default_factory=Search)
    stopping: Stopping = Field(default_factory=Stopping)
    researcher: Researcher = Field(default_factory=Researcher)

    def keywords(self) -> dict[str, Any]:
        """The run settings this process sets, as `recursor.run`'s keywords."""
        return {
            "idea_rule": self.ideas.rule, "idea_exploration": self.ideas.exploration,
            "idea_weights": dict(self.ideas.weights),
            "policy": self.search.policy, "exploration": self.search.exploration,
            "descendant_credit": self.search.descendant_credit,
            "early_stop": self.stopping.early_stop, "stop_risk": self.stopping.risk,
            "stop_test_risk": self.stopping.test_risk,
            "personas": tuple(self.researcher.personas),
            "library_share": self.researcher.library_share,
            "brief": self.researcher.brief, "brief_ideas": self.researcher.brief_ideas,
            "brief_history": self.researcher.brief_history,
        }

    def to_toml(self) -> str:
        """The process as a file that `load_process` reads back to the same process."""
        out = []
        for table, model in (("ideas", self.ideas), ("search", self.search),
                             ("stopping", self.stopping), ("researcher", self.researcher)):
            out.append(f"[{table}]")
            for key, value in model.model_dump().items():
                if value is not None:
                    out.append(f"{key} = {_toml(value)}")
            out.append("")
        return "\n".join(out)

    @property
    def label(self) -> str:
        """What differs from the default process, in one line ("default" for none)."""
        default = Process().keywords()
        changed = [f"{k}={v!r}" for k, v in self.keywords().items() if default[k] != v]
        return ", ".join(changed) or "default"


DEFAULT = Process()


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def process_of(data: Mapping[str, Any], where: str = "process") -> Process:
    """A process from a parsed file, with every problem at once: unknown and frozen keys by
    name and reason, and values the run settings' own checks refuse."""
    frozen = _frozen_keys(data) + _infinite(data)
    if frozen:
        raise SettingsError(f"{where}: " + "; ".join(frozen))
    try:
        process = Process.model_validate(dict(data))
    except ValidationError as err:
        found = []
        for e in err.errors():
            path = ".".join(str(p) for p in e["loc"])
            found.append(f"{path}: unknown key (a process file may set only the keys its "
                         "documentation lists)" if e["type"] == "extra_forbidden"
                         else f"{path}: {e['msg']}")
        raise SettingsError(f"{where}: " + "; ".join(found)) from None
    from recursor.settings.model import problems

    labels = {"idea_rule": "ideas.rule", "idea_exploration": "ideas.exploration",
              "idea_weights": "ideas.weights", "policy": "search.policy",
              "exploration": "search.exploration",
              "descendant_credit": "search.descendant_credit",
              "early_stop": "stopping.early_stop", "stop_risk": "stopping.risk",
              "stop_test_risk": "stopping.test_risk", "personas": "researcher.personas",
              "library_share": "researcher.library_share", "brief": "researcher.brief",
              "brief_ideas": "researcher.brief_ideas",
              "brief_history": "researcher.brief_history"}
    found = problems(process.keywords(), labels)
    if found:
        raise SettingsError(f"{where}: " + "; ".join(found))
    return process


def _frozen_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in data.items():
        name = str(key).lower().replace("-", "_")
        if name in FROZEN:
            out.append(f"{prefix}{key}: frozen ({FROZEN[name]}); a process file may not set it")
        elif isinstance(value, Mapping) and not prefix:
            out += _frozen_keys(value, f"{key}.")
    return out


def _infinite(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Numbers that are not finite: TOML writes inf and nan, and a score times inf (or 0 times
    inf) would make the search's choices undefined, not merely bold."""
    out = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            out += _infinite(value, f"{prefix}{key}.")
        elif isinstance(value, float) and not math.isfinite(value):
            out.append(f"{prefix}{key}: must be a finite number (got {value})")
    return out


def load_process(path: Path | str) -> Process:
    """The process of a file; a missing, unreadable or invalid file is a SettingsError that
    says what is wrong."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"process file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"process file {path} is not valid TOML: {err}") from None
    return process_of(data, where=str(path))


def with_process(given: Mapping[str, Any], explicit: Mapping[str, Any],
                 process: Process) -> dict[str, Any]:
    """The keyword values of a run started with a process file: the file's values. A keyword
    given with a value that is neither the setting's default nor the file's is an error (one
    setting, two answers); one at its default yields to the file, as the CLI passes every
    option, set or not."""
    from recursor.settings.model import default

    mine = process.keywords()
    clash = [f"{k} ({explicit[k]!r} given, {v!r} in the process file)" for k, v in mine.items()
             if explicit.get(k) is not None
             and _stored(explicit[k]) not in (_stored(v), _stored(default(k)))]
    if clash:
        raise SettingsError("given both as a keyword and in the process file: " + ", ".join(clash))
    return {**given, **mine}


def _stored(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
