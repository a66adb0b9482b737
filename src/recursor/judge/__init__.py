"""The judge: noise floor, paired sequential test, verdicts."""

from recursor.judge.judge import Judge, JudgeConfig, Step
from recursor.judge.stats import PairedTest, Pooled, mean_ci95, paired_test, pool

__all__ = ["Judge", "JudgeConfig", "PairedTest", "Pooled", "Step", "mean_ci95", "paired_test",
           "pool"]
