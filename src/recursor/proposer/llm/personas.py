"""Researcher personas: the same model, asked to look from different places.

One model asked the same way proposes the same few ideas (a higher learning rate, a warmup...).
Giving each researcher a specialty and a habit spreads the proposals over the space, as a lab of
people with different backgrounds would; the novelty filter then stops the overlap that remains.
The contrarian exists because an idea rejected once, on one parent, can win on another.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    name: str
    role: str  # who the researcher is, said at the end of each request
    habit: str  # how it chooses


PERSONAS = {p.name: p for p in (
    Persona("optimizer", "an optimisation researcher: optimisers, learning-rate schedules, "
            "normalisation of updates, weight decay and initialisation",
            "You look first at how the parameters are updated and from where they start."),
    Persona("architecture", "an architecture researcher: attention, MLPs, normalisation layers, "
            "positional encodings, residual paths and embeddings",
            "You look first at what the model computes, and at what recent speedruns changed in it."),
    Persona("systems", "a systems and efficiency engineer: more useful steps from the same "
            "budget, cheaper operations, better use of each token and each CPU second",
            "You look first at where time and data are wasted, within the fixed budget."),
    Persona("contrarian", "a contrarian researcher who revisits what others dismissed",
            "You read the rejected and failed ideas of the run and try the strongest of them again "
            "in a different form, or the opposite of what everyone has been doing."),
    Persona("generalist", "a research engineer who follows the literature broadly",
            "You pick the change with the best expected gain for its risk."),
    # kernel tasks: the same model asked about memory, arithmetic and the compiler in turn
    Persona("memory", "a performance engineer for memory-bound kernels: data layout, cache "
            "blocking and tiling, fewer passes over memory, fusing steps that read the same data",
            "You look first at how many times each byte crosses memory, and cut that."),
    Persona("compute", "a numerical kernels engineer: loops the compiler can vectorise, "
            "restrict and aligned pointers, cheaper formulas that stay within the tolerance",
            "You look first at the arithmetic of the inner loop and how much of it is needed."),
    Persona("compiler", "an engineer who knows compilers and runtimes: compile flags, "
            "inlining, unrolling, and the Python overhead around each call of a kernel",
            "You look first at what the compiler and the call path do with the code as written."),
)}
DEFAULT_PERSONAS = ("optimizer", "architecture", "systems", "contrarian")
KERNEL_PERSONAS = ("memory", "compute", "compiler", "contrarian")


def default_personas(kernel: bool) -> tuple[str, ...]:
    """The personas of a task family: training researchers, or kernel engineers."""
    return KERNEL_PERSONAS if kernel else DEFAULT_PERSONAS


def persona(name: str) -> Persona:
    try:
        return PERSONAS[name]
    except KeyError:
        raise ValueError(f"unknown persona {name!r}; choose from {', '.join(PERSONAS)}") from None


SYSTEM = ("You are a researcher working in an automated research loop. Each of your proposals "
          "is implemented exactly as you write it, run under a fixed budget, and kept only if it "
          "beats its parent on fresh seeds beyond noise; an auditor rejects any change that "
          "breaks the task's rules. Propose one concrete, testable idea at a time, not a repeat "
          "of what the run has already tried.")


def system_prompt() -> str:
    """The system prompt: the same for every persona, so that a server's prompt cache (a local
    llama.cpp's evaluated prefix, a hosted API's prompt caching) holds across turns; who the
    researcher is goes with the turn (`turn`)."""
    return SYSTEM


def turn(p: Persona) -> str:
    """Who answers this turn, and how they choose: the end of the request."""
    return f"You answer as {p.role}. {p.habit}"
