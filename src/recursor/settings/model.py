"""The settings of a run: `RunConfig`, what a run stores, and `Launch`, what starts it.

`RunConfig` is stored in the run (`to_json`), so that `resume` continues the same run, and old
runs' stored configs still open (`from_json`). `Launch` holds what starts a run without being
part of it: where it is kept, how its model names are read, where it is logged; `resume` is
given these again. Each field is one setting (`setting(...)`, recursor.settings.fields).
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from recursor.errors import SettingsError
from recursor.settings.fields import (
    BUDGET,
    DISCOVERIES,
    EXECUTOR,
    JUDGE,
    POSITIVE,
    PROPOSER,
    SEARCH,
    STOPPING,
    TASK,
    TRACKING,
    Flag,
    OneOf,
    Setting,
    at_least,
    between,
    from_keywords,
    problem,
    problems_of,
    setting,
    settings_of,
)

DEFAULT_EXPERIMENTS = 12  # the budget when neither experiments nor minutes is given


# -- converters the declarations name: how an option or keyword becomes the stored value

def _listed(values: list[str] | None) -> Sequence[str]:
    return values or ()


def _command(line: str | None) -> Sequence[str]:
    return shlex.split(line) if line else ()


def _embeddings(model: str | None, base_url: str | None) -> dict[str, Any] | None:
    return {"model": model, "base_url": base_url} if model else None


def _overrides(given: list[str] | None) -> dict[str, Any]:
    from recursor.task import parse_override

    return dict(parse_override(o) for o in given or [])


def _proposer_kind(proposer: Any) -> Any:
    return proposer if isinstance(proposer, str) else "library"  # None or a Proposer object


def _resolved(folder: Path | str | None) -> str | None:
    # resolved when the run is created, so that a resumed run keeps the same library
    return str(Path(folder).expanduser().resolve()) if folder is not None else None


# The registries are read when a setting is checked, not copied here, so that a policy,
# executor or proposer added to its registry later is a valid name. They are imported then,
# not with this module: the CLI builds its options from these settings, and `recursor --help`
# should not wait for the task package, the executors and the proposers to load.
def _policies() -> Iterable[str]:
    from recursor.policy import POLICIES

    return POLICIES


def _executors() -> Iterable[str]:
    from recursor.executor import EXECUTORS

    return EXECUTORS


def _proposers() -> Iterable[str]:
    from recursor.proposer import PROPOSERS

    return PROPOSERS


def _idea_rules() -> Iterable[str]:
    from recursor.proposer.ideas import RULES

    return RULES


def _categories() -> Iterable[str]:
    import typing

    from recursor.task.ideas import Category

    return typing.get_args(Category)


def _weights(given: list[str] | None) -> dict[str, float]:
    """`--idea-weight CATEGORY=W`, repeated."""
    out = {}
    for item in given or []:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise SettingsError(f"--idea-weight {item!r}: give CATEGORY=WEIGHT, e.g. "
                                "optimizer=2") from None
        if not sep:
            raise SettingsError(f"--idea-weight {item!r}: give CATEGORY=WEIGHT")
    return out


def _brief_forms() -> Iterable[str]:
    from recursor.proposer.brief import BRIEF_FORMS

    return BRIEF_FORMS


def _personas() -> Iterable[str]:
    from recursor.proposer.llm.personas import PERSONAS

    return PERSONAS


# -- the model

@dataclass(frozen=True)
class RunConfig:
    """The settings of one run, as it stores them. Either budget, or both, may be given; the
    run ends at the first.

    experiments: candidate nodes to try (the baseline is not counted; a node's confirmation
        seeds belong to it).
    minutes: wall-clock time of the run, summed over its sessions. At the deadline the run stops
        proposing and finishes the decisions under way.

    The order of the fields is the order of the stored JSON's keys.
    """

    experiments: int | None = setting(
        None, BUDGET, "Candidates to try (the baseline is not counted).", check=at_least(0))
    minutes: float | None = setting(
        None, BUDGET, "Wall-clock budget of the whole run, in minutes.", check=POSITIVE)
    policy: str = setting("best-first", SEARCH,
                          "Search policy: greedy, best-first, islands or map-elites.",
                          check=OneOf(_policies))
    workers: int | None = setting(
        None, EXECUTOR, "Experiments in parallel (default: what the machine can hold).",
        check=at_least(1))
    seed: int = setting(0, SEARCH, "Seed of the proposer's and policy's choices.")
    alpha: float = setting(0.02, JUDGE, "Level of each confirmation test.",
                           check=between(0, 0.5, open=True))
    sandbox: str = setting("auto", EXECUTOR,
                           "Confinement of experiments: auto, bwrap, unshare or none.",
                           check=OneOf(("auto", "bwrap", "unshare", "none")))
    executor: str = setting(
        "local", EXECUTOR, "Where experiments run: local (a process pool here) or ray (Ray "
        "tasks; pip install 'recursor\\[ray]').", check=OneOf(_executors))
    ray_address: str | None = setting(
        None, EXECUTOR, "With --executor ray: the cluster to join (HOST:6379 or auto; default: "
        "start a local Ray instance). The run folder must be on a file system all nodes share.")
    heldout: bool = setting(True, JUDGE, "Run the task's held-out evaluations on accepted nodes.")
    proposer: str = setting(
        "library", PROPOSER, "Who proposes: library, llm, mixed (llm and library), agent, "
        "or optuna (settings drawn by Optuna from the space the task declares; pip install "
        "'recursor\\[optuna]').",
        check=OneOf(_proposers),
        # recursor.run also takes a Proposer object, which the run stores as "library"
        api="Proposer | str | None", api_default=None, to_stored=_proposer_kind)
    # stored as Endpoint fields (no keys: keys stay in the environment); recursor.run reads the
    # names with base_url, context_tokens and models_file into those
    models: tuple[dict[str, Any], ...] = setting(
        (), PROPOSER, "A model for the LLM researchers, e.g. openai:gpt-4o-mini or "
        "anthropic:claude-sonnet-4-5; repeat for several.",
        api=Sequence[str], flags=(Flag("model", list[str] | None),), from_cli=_listed,
        to_stored=tuple)
    personas: tuple[str, ...] = setting(
        (), PROPOSER, "Researcher personas (default: optimizer, architecture, systems, "
        "contrarian).", check=OneOf(_personas, each=True, noun="persona"),
        api=Sequence[str], flags=(Flag("persona", list[str] | None),), from_cli=_listed,
        to_stored=tuple)
    library_share: float = setting(
        0.25, PROPOSER, "With --proposer mixed: the library's share of the turns.",
        check=between(0, 1))
    max_repairs: int = setting(
        2, PROPOSER, "Times a model's unusable answer is sent back to it, with what is wrong, "
        "per proposal.", check=at_least(0))
    # None: 0 for the library and optuna (instant, and their runs stay deterministic: each
    # proposal sees every verdict before it), 1 for the others, whose proposals take as long
    # as an experiment
    propose_ahead: int | None = setting(
        None, PROPOSER, "Candidates to propose ahead while every worker is busy, so that a free "
        "worker starts one at once instead of waiting for the proposer (at most N wait; one "
        "proposal is out at a time; never past the budget). Default: 0 for the library and "
        "optuna (instant; their runs stay deterministic), 1 for llm, mixed and agent.",
        check=at_least(0))
    max_cost: float | None = setting(
        None, PROPOSER, "Stop proposing once model calls have cost this many dollars.",
        check=POSITIVE)
    novelty: bool = setting(True, PROPOSER, "Reject ideas too close to ones already tried.")
    embeddings: dict[str, Any] | None = setting(
        None, PROPOSER, "The novelty filter's embeddings: {\"model\", \"base_url\", "
        "\"api_key_env\"} of an OpenAI-compatible /v1/embeddings endpoint (default: TF-IDF "
        "only).",
        flags=(Flag("embeddings_model", str | None, "An embedding model for the novelty filter "
                    "(OpenAI-compatible /v1/embeddings)."),
               Flag("embeddings_url", str | None,
                    "The endpoint of --embeddings-model (default: OpenAI's).")),
        from_cli=_embeddings)
    agent_command: tuple[str, ...] = setting(
        (), PROPOSER, "With --proposer agent: the agent's command line, e.g. "
        "\"claude -p {prompt} --permission-mode acceptEdits\".",
        api=Sequence[str], flags=(Flag("agent_command", str | None),), from_cli=_command,
        to_stored=tuple)
    agent_timeout: float = setting(
        900, PROPOSER, "With --proposer agent: seconds one agent call may take before it is "
        "killed.", check=POSITIVE)
    overrides: dict[str, Any] = setting(
        {}, TASK, "task.toml settings changed for this run, by dotted key, e.g. "
        "{\"budget.train_tokens\": 40000}.",
        api=dict[str, Any] | None, api_default=None,
        flags=(Flag("override", list[str] | None, "Override a task.toml setting, e.g. --set "
                    "budget.train_tokens=40000.", decls=("--set",)),),
        from_cli=_overrides, to_stored=lambda given: dict(given or {}))
    # the value function (recursor.value)
    early_stop: bool = setting(
        True, STOPPING, "Let the value function stop candidates whose partial curve says they "
        "will lose to their parent.")
    stop_risk: float = setting(
        0.02, STOPPING, "Stop a candidate below this forecast chance of beating its parent.",
        check=between(0, 0.5, open=True))
    stop_test_risk: float = setting(
        0.15, STOPPING, "Stop a candidate below this forecast chance of being accepted: of "
        "passing its screen and then its paired test (looked at from its screen on, once the "
        "run's noise has 6 degrees of freedom).", check=between(0, 0.5, open=True))
    stop_audit: float = setting(
        0.2, STOPPING, "Share of would-be stops run to the end anyway, to measure false stops.",
        check=between(0, 1))
    # the discovery library (recursor.discoveries)
    discoveries: bool = setting(
        True, DISCOVERIES, "Use the discovery library: try this task's past discoveries first, "
        "show other tasks' as suggestions, keep every accepted node there.")
    discoveries_dir: str | None = setting(
        None, DISCOVERIES, "The discovery library's folder (default: $RECURSOR_LIBRARY, else "
        "~/.local/share/recursor/discoveries).",
        api=Path | str | None, cli=Path | None, to_stored=_resolved)
    # checked against the task when the run is created (recursor.task.objectives), since the
    # names are the task's; None is the task's metric
    objective: str | None = setting(
        None, JUDGE, "The metric the search optimises and the judge tests: the task's metric "
        "(default) or one of its secondary metrics (task.toml \\[\\[secondary]]); the others "
        "are still recorded.")
    # resolved when the run is created, as discoveries_dir: a resumed run keeps the same cache
    cache: str | None = setting(
        None, EXECUTOR, "A folder of finished seed runs, shared by the runs that name it: a seed "
        "run it holds (same task, program, seed, evaluation and settings) is replayed with its "
        "recorded result and seconds instead of run again, and every seed run that ends "
        "normally under bwrap is kept there (default: no cache).",
        api=Path | str | None, cli=Path | None, to_stored=_resolved)
    seed_runs: float | None = setting(
        None, BUDGET, "Compute budget in seed-run equivalents: stop proposing once the "
        "evaluations' seconds reach this many of the baseline's mean seconds per seed run "
        "(deterministic under a result cache, which charges a replay its recorded seconds).",
        check=POSITIVE)
    # the research process (a process file sets these: recursor.settings.process); last, so
    # that the stored JSON keeps the order of runs stored before them
    exploration: float = setting(
        1.0, SEARCH, "best-first, islands, map-elites: the weight of the bonus for parents "
        "extended less often (UCB1's constant is 1; 0 always extends the best).",
        check=at_least(0))
    descendant_credit: float = setting(
        0.0, SEARCH, "best-first and islands: the weight of a parent's children's mean gain "
        "over it in its score, so that a parent whose children keep winning is extended again.",
        check=at_least(0))
    brief: str = setting(
        "auto", PROPOSER, "The LLM researchers' brief: full, compact (the last few entries of "
        "the history, a few library ideas, large files outlined) or auto (full when it fits the "
        "model's window).", check=OneOf(_brief_forms))
    brief_ideas: int | None = setting(
        None, PROPOSER, "Library ideas the LLM researchers' brief lists (default: all; 6 in a "
        "compact brief).", check=at_least(0))
    brief_history: int | None = setting(
        None, PROPOSER, "Entries of what the run tried that the LLM researchers' brief lists "
        "(default: 30; 8 in a compact brief; 0: none, for a small model that copies them: the "
        "researcher still refuses a repeat and then lists them).", check=at_least(0))
    idea_rule: str = setting(
        "tiers", PROPOSER, "How the built-in library orders its ideas after past discoveries: "
        "tiers (accepted elsewhere, like other tasks' discoveries, untried, tried; at random "
        "within), cheapest (smallest patch first within a tier), prior (heavier --idea-weight "
        "categories first within a tier) or bandit (UCB over idea categories).",
        check=OneOf(_idea_rules))
    idea_exploration: float = setting(
        1.0, PROPOSER, "With --idea-rule bandit: the UCB constant (0: always the category with "
        "the best acceptance rate so far).", check=at_least(0))
    idea_weights: dict[str, float] = setting(
        {}, PROPOSER, "With --idea-rule prior: weights of idea categories (1 unless given), "
        "e.g. {\"optimizer\": 2}. By category only, never by an idea's name.",
        check=OneOf(_categories, each=True, noun="idea category"),
        api=dict[str, float] | None, api_default=None,
        flags=(Flag("idea_weight", list[str] | None, "Weight of an idea category for --idea-rule "
                    "prior: CATEGORY=W, repeated."),),
        from_cli=_weights, to_stored=lambda given: {k: float(v) for k, v in (given or {}).items()})

    def __post_init__(self) -> None:
        if self.experiments is None and self.minutes is None and self.seed_runs is None:
            object.__setattr__(self, "experiments", DEFAULT_EXPERIMENTS)
        found = problems_of(self) + self._conflicts()
        if found:
            raise SettingsError("; ".join(found))

    def _conflicts(self) -> list[str]:
        """Settings that pass their own checks but not together."""
        found = []
        if self.ray_address and self.executor != "ray":
            found.append("ray_address needs the ray executor (--executor ray)")
        if self.proposer in ("llm", "mixed") and not self.models:
            found.append(f"proposer {self.proposer} needs at least one model (--model)")
        if self.proposer == "agent" and not self.agent_command:
            found.append("proposer agent needs the agent's command line (--agent-command)")
        negative = [k for k, w in self.idea_weights.items() if not w >= 0]
        if negative:
            found.append(f"idea_weights must be 0 or more (got {', '.join(negative)})")
        return found

    @property
    def ahead(self) -> int:
        """`propose_ahead` with its default for the proposer resolved."""
        if self.propose_ahead is not None:
            return self.propose_ahead
        return 0 if self.proposer in ("library", "optuna") else 1

    @classmethod
    def from_keywords(cls, values: Mapping[str, Any]) -> Self:
        """The config of `recursor.run`'s keyword values (`keywords`), each turned into what
        the run stores."""
        return from_keywords(cls, values)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """A stored config, also as an older run stored it: keys it no longer knows are
        dropped, and settings added since take their defaults."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        given = {k: v for k, v in data.items() if k in fields}
        for name, value in given.items():  # JSON gives lists back
            if isinstance(fields[name].default, tuple):
                given[name] = tuple(value)
        return cls(**given)


@dataclass(frozen=True)
class Launch:
    """The settings that start a run without being stored in it."""

    run_dir: Path | str | None = setting(
        None, TRACKING, "Where the run is kept (default runs/TASK-TIME).", cli=Path | None)
    base_url: str | None = setting(
        None, PROPOSER, "The endpoint of the --model(s): an OpenAI-compatible server (vLLM, "
        "Ollama, llama.cpp, OpenRouter) or an Anthropic-compatible one.")
    context_tokens: int | None = setting(
        None, PROPOSER, "The context window of the --model(s), in tokens: a brief that would not "
        "fit with room for the answer is sent in its compact form.")
    models_file: Path | str | None = setting(
        None, PROPOSER, "A TOML file of \\[\\[models]] (model, provider, base_url, api_key_env, "
        "price_in, price_out, context_tokens, ...).", cli=Path | None)
    process: Path | str | None = setting(
        None, SEARCH, "A research-process file (meta.toml: how ideas are chosen, parents "
        "picked, candidates stopped, and the brief's shape), whose values the run takes; see "
        "docs/meta.md.", cli=Path | None)
    mlflow: str | None = setting(
        None, TRACKING, "Log the run to MLflow while it goes: a tracking URI such as "
        "http://mlflow:5000 or sqlite:///mlflow.db ('' for $MLFLOW_TRACKING_URI); "
        "pip install 'recursor\\[mlflow]'.")
    mlflow_experiment: str | None = setting(
        None, TRACKING, "The MLflow experiment (default: recursor/TASK).")

    def __post_init__(self) -> None:
        found = problems_of(self)
        if found:
            raise SettingsError("; ".join(found))

    @classmethod
    def from_keywords(cls, values: Mapping[str, Any]) -> Self:
        return from_keywords(cls, values)


SETTINGS = settings_of(RunConfig, Launch)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def default(name: str) -> Any:
    """A setting's default, for code that holds the same setting under its own name."""
    return BY_NAME[name].default


def problems(values: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with some settings' values, by the settings' own checks; `labels` names a
    setting in the messages as the caller calls it."""
    labels = labels or {}
    found = [problem(labels.get(name, name), BY_NAME[name].check, value, BY_NAME[name].default)
             for name, value in values.items()]
    return [p for p in found if p]


