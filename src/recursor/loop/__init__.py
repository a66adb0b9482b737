"""The research loop: propose, run, judge, keep what is proven better."""

from recursor.loop.config import RunConfig
from recursor.loop.progress import Observer, Progress, Running

__all__ = ["Observer", "Progress", "RunConfig", "Running"]
