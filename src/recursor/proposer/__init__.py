"""Proposers: turn (task, parent, history) into an idea with a patch."""

from recursor.proposer.base import Proposal, ProposalContext, ProposalFailed, Proposer
from recursor.proposer.factory import PROPOSERS, build_proposer
from recursor.proposer.ideas import LibraryProposer

__all__ = ["PROPOSERS", "LibraryProposer", "Proposal", "ProposalContext", "ProposalFailed",
           "Proposer", "build_proposer"]
