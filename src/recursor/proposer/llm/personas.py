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
    role: str  # who the researcher is, in the system prompt
    habit: str  # how it chooses, in the system prompt


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
)}
DEFAULT_PERSONAS = ("optimizer", "architecture", "systems", "contrarian")


def persona(name: str) -> Persona:
    try:
        return PERSONAS[name]
    except KeyError:
        raise ValueError(f"unknown persona {name!r}; choose from {', '.join(PERSONAS)}") from None


def system_prompt(p: Persona) -> str:
    return (f"You are {p.role}, working in an automated research loop. {p.habit} Each of your "
            "proposals is implemented exactly as you write it, trained under a fixed budget, and "
            "kept only if it beats its parent on fresh seeds beyond noise; an auditor rejects any "
            "change that breaks the task's rules. Propose one concrete, testable idea at a time, "
            "not a repeat of what the run has already tried.")
