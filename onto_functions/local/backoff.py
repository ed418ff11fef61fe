"""How long the host waits before it redelivers an event whose delivery failed.

Production (Eventarc with retries on) waits 10 s, then longer, up to 600 s,
for up to a day; locally the same shape, scaled down to fractions of a
second, keeps the loop tight enough to watch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before redelivering a failed event: base * 2**(attempt-1), capped, with full jitter
    over its upper half."""

    base: float = 0.2
    cap: float = 10.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)
