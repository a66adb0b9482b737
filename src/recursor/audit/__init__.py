"""The reward-hack auditor: checks that a candidate's gain comes from a better method, not from
breaking the rules of the task.

`recursor.audit.static` reads the patch before anything runs (network, processes, files,
seeds, monkeypatching, obfuscated code, edits to read-only files, the task's data or opaque
payloads in its literals); the harness measures what
only a run can show (budgets, causality), and `recursor.audit.evidence` compares the results
(seed consistency, fresh data, held-out corpora).
"""

from recursor.audit.static import review_patch

__all__ = ["review_patch"]
