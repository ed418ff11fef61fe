"""How long one delivery keeps re-running its handler after losing commit races.

Contention is only what the commit itself reports (see unit_of_work.py:
CommitRejected, CommitUncertain); an exception raised by the handler is never
contention. Backoff uses full jitter so that contending writers spread apart
instead of colliding again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class ContentionPolicy:
    """Bounds on one delivery's commit attempts, and the backoff between them."""

    max_commit_attempts: int = 40
    base_delay: float = 0.02
    max_delay: float = 1.0
    deadline_seconds: float = 45.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))

    def within_timeout(self, timeout_seconds: float) -> "ContentionPolicy":
        """This policy with a deadline well inside the function's timeout, so that
        running out of attempts is answered, not cut off by the platform."""
        from dataclasses import replace

        return replace(self, deadline_seconds=min(self.deadline_seconds, 0.75 * timeout_seconds))
