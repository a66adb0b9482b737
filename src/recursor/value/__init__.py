"""The value function: forecasts a running candidate's final metric from its partial curve and
stops the ones very unlikely to beat their parent; calibrated, its false stops measured."""

from recursor.value.base import CurveValue, ValueFunction
from recursor.value.curves import Curve
from recursor.value.model import Forecast, Pair, PairedCurveModel
from recursor.value.stopper import AuditOutcome, StopRule, StopSettings

__all__ = ["AuditOutcome", "Curve", "CurveValue", "Forecast", "Pair", "PairedCurveModel",
           "StopRule", "StopSettings", "ValueFunction"]
