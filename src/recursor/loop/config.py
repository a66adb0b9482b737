"""What a run was asked to do. Stored in the run, so that `resume` continues the same run."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from recursor.errors import BudgetError
from recursor.policy import POLICIES

DEFAULT_EXPERIMENTS = 12


@dataclass(frozen=True)
class RunConfig:
    """The settings of one run. Either budget, or both, may be given; the run ends at the first.

    experiments: candidate nodes to try (the baseline is not counted; a node's confirmation
        seeds belong to it).
    minutes: wall-clock time of the run, summed over its sessions. At the deadline the run stops
        proposing and finishes the decisions under way.
    """

    experiments: int | None = None
    minutes: float | None = None
    policy: str = "best-first"
    workers: int | None = None  # None: what the machine can hold for the task
    seed: int = 0  # drives the proposer's and the policy's choices
    alpha: float = 0.02  # level of each confirmation test (see recursor.judge)
    sandbox: str = "auto"  # auto | bwrap | unshare | none (see recursor.executor.sandbox)
    executor: str = "local"  # local (a process pool here) | ray (recursor.executor.ray_pool)
    ray_address: str | None = None  # executor "ray": a cluster to join; None: a local instance
    heldout: bool = True  # run the task's held-out evaluations on accepted nodes
    # who proposes: "library", "llm" (the models below, with the personas), "mixed" (both,
    # the library taking library_share of the turns), or "agent" (agent_command)
    proposer: str = "library"
    models: tuple[dict[str, Any], ...] = ()  # Endpoint fields (no keys: keys stay in the env)
    personas: tuple[str, ...] = ()  # empty: the default personas
    library_share: float = 0.25  # "mixed" only
    max_repairs: int = 2  # answers sent back to a model per proposal
    # candidates proposed ahead, while every worker is busy, for a free worker to take at once:
    # at most this many wait unstarted. None: 0 for the library (instant, and its runs stay
    # deterministic: each proposal sees every verdict before it), 1 for llm, mixed and agent,
    # whose proposals take as long as an experiment
    propose_ahead: int | None = None
    max_cost: float | None = None  # dollars of model calls; proposing stops when reached
    novelty: bool = True  # reject ideas too close to ones already tried
    # the novelty filter's embeddings: {"model", "base_url", "api_key_env"} of an
    # OpenAI-compatible /v1/embeddings endpoint; None: TF-IDF only
    embeddings: dict[str, Any] | None = None
    agent_command: tuple[str, ...] = ()  # "agent" only: the agent's command line
    agent_timeout: float = 900  # "agent" only: seconds one agent call may take
    overrides: dict[str, Any] = field(default_factory=dict)  # task.toml settings, dotted keys
    # the value function (recursor.value): stop a candidate whose forecast gives it less than
    # stop_risk chance of beating its parent, or (from its screen on) less than
    # stop_test_risk chance of passing its paired test; stop_audit of those run on to count
    # false stops
    early_stop: bool = True
    stop_risk: float = 0.02
    stop_test_risk: float = 0.15
    stop_audit: float = 0.2
    # the discovery library (recursor.library): try this task's past discoveries first, read
    # other tasks' as suggestions, and keep every accepted node there; discoveries_dir is
    # resolved when the run is created (None: the default location), so a resumed run keeps it
    discoveries: bool = True
    discoveries_dir: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.experiments is None and self.minutes is None:
            object.__setattr__(self, "experiments", DEFAULT_EXPERIMENTS)
        if self.experiments is not None and self.experiments < 0:
            problems.append(f"experiments must be 0 or more (got {self.experiments})")
        if self.minutes is not None and self.minutes <= 0:
            problems.append(f"minutes must be positive (got {self.minutes})")
        if self.policy not in POLICIES:
            problems.append(f"unknown policy {self.policy!r}; choose from {', '.join(POLICIES)}")
        if self.workers is not None and self.workers < 1:
            problems.append(f"workers must be at least 1 (got {self.workers})")
        if not 0 < self.alpha < 0.5:
            problems.append(f"alpha must be between 0 and 0.5 (got {self.alpha})")
        if self.sandbox not in ("auto", "bwrap", "unshare", "none"):
            problems.append(f"unknown sandbox {self.sandbox!r}; choose auto, bwrap, unshare "
                            "or none")
        if self.executor not in ("local", "ray"):
            problems.append(f"unknown executor {self.executor!r}; choose local or ray")
        if self.ray_address and self.executor != "ray":
            problems.append("ray_address needs the ray executor (--executor ray)")
        if self.proposer not in ("library", "llm", "mixed", "agent"):
            problems.append(f"unknown proposer {self.proposer!r}; choose library, llm, mixed "
                            "or agent")
        if self.proposer in ("llm", "mixed") and not self.models:
            problems.append(f"proposer {self.proposer} needs at least one model (--model)")
        if self.proposer == "agent" and not self.agent_command:
            problems.append("proposer agent needs the agent's command line (--agent-command)")
        if self.agent_timeout <= 0:
            problems.append(f"agent_timeout must be positive (got {self.agent_timeout})")
        if self.max_cost is not None and self.max_cost <= 0:
            problems.append(f"max_cost must be positive (got {self.max_cost})")
        if not 0 <= self.library_share <= 1:
            problems.append(f"library_share must be between 0 and 1 (got {self.library_share})")
        from recursor.proposer.llm.personas import PERSONAS

        unknown = [p for p in self.personas if p not in PERSONAS]
        if unknown:
            problems.append(f"unknown persona(s) {', '.join(unknown)}; choose from "
                            f"{', '.join(PERSONAS)}")
        if not 0 < self.stop_risk < 0.5:
            problems.append(f"stop_risk must be between 0 and 0.5 (got {self.stop_risk})")
        if not 0 < self.stop_test_risk < 0.5:
            problems.append(
                f"stop_test_risk must be between 0 and 0.5 (got {self.stop_test_risk})")
        if not 0 <= self.stop_audit <= 1:
            problems.append(f"stop_audit must be between 0 and 1 (got {self.stop_audit})")
        if self.propose_ahead is not None and self.propose_ahead < 0:
            problems.append(f"propose_ahead must be 0 or more (got {self.propose_ahead})")
        if self.max_repairs < 0:
            problems.append(f"max_repairs must be 0 or more (got {self.max_repairs})")
        if problems:
            raise BudgetError("; ".join(problems))

    @property
    def ahead(self) -> int:
        """`propose_ahead` with its default for the proposer resolved."""
        if self.propose_ahead is not None:
            return self.propose_ahead
        return 0 if self.proposer == "library" else 1

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in known}
        for name in ("models", "personas", "agent_command"):  # JSON gives lists back
            if name in fields:
                fields[name] = tuple(fields[name])
        return cls(**fields)


def default_workers(threads: int, memory_mb: int) -> int:
    """As many experiments as the machine has cores and memory for."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    by_cpu = max(1, (cores or 1) // threads)
    try:
        avail_mb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20
        by_memory = max(1, int(avail_mb * 0.8) // memory_mb)
    except (ValueError, OSError):
        by_memory = by_cpu
    return max(1, min(by_cpu, by_memory))
