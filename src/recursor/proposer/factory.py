"""The run's proposer, built from its stored config (so `resume` rebuilds the same team)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from recursor.proposer.base import Proposer
from recursor.proposer.ideas import LibraryProposer
from recursor.store.records import Node

if TYPE_CHECKING:
    from recursor.store import RunStore
    from recursor.task import Task


class ProposerConfig(Protocol):
    """The settings a proposer is built from: the part of a run's config (`RunConfig`, defined
    with every other setting in recursor.settings, which sits above the proposers) that this
    package reads."""

    proposer: str
    models: Sequence[Mapping[str, Any]]
    personas: Sequence[str]
    max_repairs: int
    library_share: float
    novelty: bool
    embeddings: Mapping[str, Any] | None
    agent_command: Sequence[str]
    agent_timeout: float
    idea_rule: str
    idea_exploration: float
    idea_weights: Mapping[str, float]
    brief: str
    brief_ideas: int | None
    brief_history: int | None


# (config, store, task or None) -> the proposer; `task` picks the default personas of its family
ProposerFactory = Callable[["ProposerConfig", "RunStore", "Task | None"], Proposer]


def build_proposer(config: ProposerConfig, store: RunStore, task: Task | None = None) -> Proposer:
    """The proposer `config` names (`PROPOSERS`); `task` picks the default personas of its
    family."""
    return PROPOSERS[config.proposer](config, store, task)


def _library(config: ProposerConfig, store: RunStore, task: Task | None) -> Proposer:
    return library_of(config)


def library_of(config: ProposerConfig) -> LibraryProposer:
    """The built-in library proposer with the run's choice rule."""
    return LibraryProposer(config.idea_rule, config.idea_exploration, config.idea_weights)


def _agent(config: ProposerConfig, store: RunStore, task: Task | None) -> Proposer:
    from pathlib import Path

    from recursor.proposer.agent import AgentProposer

    return AgentProposer(config.agent_command, name=Path(config.agent_command[0]).name,
                         timeout=config.agent_timeout)


def _team(config: ProposerConfig, store: RunStore, task: Task | None) -> Proposer:
    """The LLM researchers, with the built-in library beside them under `mixed`."""
    from recursor.proposer.brief import is_kernel_task
    from recursor.proposer.llm.endpoint import ChatClient, Endpoint
    from recursor.proposer.llm.personas import DEFAULT_PERSONAS, default_personas
    from recursor.proposer.llm.researcher import LLMResearcher
    from recursor.proposer.team import Team

    patches: dict[int, str] = {}  # a node's patch never changes: read each file once

    def read_patch(node: Node) -> str:
        if node.id not in patches:
            path = store.path(node.patch_path)
            patches[node.id] = path.read_text() if path is not None and path.exists() else ""
        return patches[node.id]

    names = tuple(task.spec.program.files) if task is not None else ()

    def read_failure(node: Node) -> str | None:
        """The traceback of the node's failed run, in its program's own lines."""
        from recursor.executor.job import program_traceback
        from recursor.store import EvalStatus

        for ev in node.evaluations:
            folder = store.path(ev.job_dir)
            if ev.status is EvalStatus.FAILED and folder is not None and names:
                found = program_traceback(folder / "program.log", names)
                if found:
                    return found
        return None

    novelty = None
    if config.novelty:
        import os

        from recursor.proposer.novelty import NoveltyFilter, OpenAIEmbedder

        embedder = None
        if config.embeddings:
            e = config.embeddings
            embedder = OpenAIEmbedder(e["model"], base_url=e.get("base_url"),
                                      api_key=os.environ.get(e.get("api_key_env")
                                                             or "OPENAI_API_KEY"))
        novelty = NoveltyFilter(embedder=embedder)
    researchers = []
    for fields in config.models:
        endpoint = Endpoint(**fields)
        client = ChatClient(endpoint)  # one SDK client per endpoint, shared by its personas
        family = (default_personas(is_kernel_task(task)) if task is not None
                  else DEFAULT_PERSONAS)
        for name in config.personas or family:
            researchers.append(LLMResearcher(endpoint, name, max_repairs=config.max_repairs,
                                             novelty=novelty, read_patch=read_patch,
                                             read_failure=read_failure,
                                             client=client,
                                             family=tuple(config.personas or family),
                                             brief=config.brief, brief_ideas=config.brief_ideas,
                                             brief_history=config.brief_history))
    library = library_of(config) if config.proposer == "mixed" else None
    return Team(researchers, library, config.library_share if library else 0.0)


def _optuna(config: ProposerConfig, store: RunStore, task: Task | None) -> Proposer:
    """Settings drawn by Optuna over the task's [[space]]: a task without one is an error
    here, when the run starts, not after its baseline."""
    from recursor.proposer.sampled import OptunaProposer, require_space

    if task is not None:
        require_space(task)
    return OptunaProposer(store.files)


# name (the `proposer` setting) -> factory; a new proposer is one class and one line here
PROPOSERS: dict[str, ProposerFactory] = {"library": _library, "llm": _team, "mixed": _team,
                                         "agent": _agent, "optuna": _optuna}
