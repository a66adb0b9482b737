"""The run store: one SQLite database per run, the single source of truth."""

from recursor.store.records import Call, EvalStatus, Evaluation, Finding, Idea, Node, NodeStatus, Prediction
from recursor.store.sqlite import RunStore
from recursor.store.verdicts import (
    BaselineVerdict,
    ConfirmVerdict,
    ParentFailedVerdict,
    ScreenVerdict,
    StoppedEarlyVerdict,
    Verdict,
    verdict_from_json,
)

__all__ = ["BaselineVerdict", "Call", "ConfirmVerdict", "EvalStatus", "Evaluation", "Finding", "Idea",
           "Node", "NodeStatus", "ParentFailedVerdict", "Prediction", "RunStore", "ScreenVerdict",
           "StoppedEarlyVerdict", "Verdict", "verdict_from_json"]
