"""The run store: one SQLite database per run, the single source of truth."""

from recursor.store.records import Call, EvalStatus, Evaluation, Finding, Idea, Node, NodeStatus, Prediction
from recursor.store.sqlite import RunStore

__all__ = ["Call", "EvalStatus", "Evaluation", "Finding", "Idea", "Node", "NodeStatus", "Prediction",
           "RunStore"]
