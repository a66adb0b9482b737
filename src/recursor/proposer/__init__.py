"""Proposers: turn (task, parent, history) into an idea with a patch."""

from recursor.proposer.base import Proposal, ProposalContext, ProposalFailed, Proposer
from recursor.proposer.library import LibraryProposer

PROPOSERS = {"library": LibraryProposer}  # plug-ins are listed here, not registered on import

__all__ = ["PROPOSERS", "LibraryProposer", "Proposal", "ProposalContext", "ProposalFailed", "Proposer"]
