"""How long the host waits before it redelivers an event whose delivery failed.

Production (Eventarc with retries on) retries every failed delivery with a
jittered exponential backoff from about 10 s up to 600 s, for up to a day;
locally the same shape, scaled down (0.05 s up to 2 s), keeps the loop tight
enough to watch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before redelivering a failed event: base * 2**(attempt-1), capped, with full jitter
    over its upper half."""

    base: float = 0.05
    cap: float = 2.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)
