"""Per-trigger counters and latency percentiles of the local function host.

What each counter means (one event may touch several):

    received      events the host accepted from the emulator (or `onto invoke`)
    delivered     delivery attempts made to the trigger's worker
    applied       the executor committed the handler's effect
    duplicates    the executor found the event in its ledger and skipped it
    superseded    the executor skipped it because a newer event was already applied
    ignored       the executor did not run the handler (kind or path mismatch)
    retried       failed attempts that were scheduled again (real or injected failures)
    dead_lettered given up on: by the executor (after the trigger's max_deliveries)
                  or by the host (its own attempt limit, e.g. a worker that never starts)
    injected_*    faults injected (duplicates, held back, failures)

Latency is from the moment the host stored the event to the moment a worker
acknowledged its first successful delivery: the queueing, backoff and
handler time a user waits for, without the emulator's own delivery time.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

COUNTERS = (
    "received", "delivered", "applied", "duplicates", "superseded", "ignored", "retried", "dead_lettered",
    "injected_duplicates", "injected_holds", "injected_failures", "in_flight",
)
_OUTCOME_COUNTERS = {
    "applied": "applied",
    "duplicate": "duplicates",
    "superseded": "superseded",
    "ignored": "ignored",
    "dead_lettered": "dead_lettered",
}


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation; None for no values."""
    data = sorted(values)
    if not data:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within [0, 100], got {q}")
    rank = (len(data) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return data[low] + (data[high] - data[low]) * (rank - low)


@dataclass
class TriggerStats:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=20_000), repr=False)

    def as_dict(self) -> dict[str, Any]:
        p50 = percentile(self.latencies, 50)
        p95 = percentile(self.latencies, 95)
        return {
            **self.counts,
            "p50_ms": None if p50 is None else round(p50 * 1000, 1),
            "p95_ms": None if p95 is None else round(p95 * 1000, 1),
        }


class Stats:
    """Thread-safe counters, one `TriggerStats` per trigger."""

    def __init__(self, triggers: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._by_trigger: dict[str, TriggerStats] = {t: TriggerStats() for t in triggers}

    def _get(self, trigger: str) -> TriggerStats:
        stats = self._by_trigger.get(trigger)
        if stats is None:
            stats = self._by_trigger[trigger] = TriggerStats()
        return stats

    def count(self, trigger: str, counter: str, n: int = 1) -> None:
        with self._lock:
            self._get(trigger).counts[counter] += n

    def outcome(self, trigger: str, outcome: str, latency: float | None = None) -> None:
        """A worker acknowledged a delivery with the executor's `outcome`."""
        with self._lock:
            stats = self._get(trigger)
            counter = _OUTCOME_COUNTERS.get(outcome)
            if counter:
                stats.counts[counter] += 1
            if latency is not None:
                stats.latencies.append(latency)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A copy of every trigger's counters and p50/p95 latency (ms)."""
        with self._lock:
            return {name: stats.as_dict() for name, stats in self._by_trigger.items()}

    def totals(self) -> dict[str, int]:
        """Counters summed over triggers (latencies left out)."""
        total: dict[str, int] = {}
        for row in self.snapshot().values():
            for key, value in row.items():
                if isinstance(value, int):
                    total[key] = total.get(key, 0) + value
        return total
