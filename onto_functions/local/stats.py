"""Per-trigger counters and latency percentiles of the local function host.

What each counter means (one event may touch several):

    received       events the host accepted from the emulator (or `onto invoke`)
    delivered      delivery attempts made to one of the trigger's instances
    applied ... contended
                   the outcome an instance answered, one count per answer
                   (`onto_functions.outcome.ALL`): applied, duplicate,
                   superseded, ignored, dead_lettered, refused, failed,
                   contended; an answer without one counts as failed (5xx),
                   refused (4xx) or unknown
    unanswered     attempts that got no answer: the instance did not start,
                   refused the connection, timed out, or was killed mid-request
    retried        failed attempts that were scheduled again (real or injected failures)
    dead_lettered  also counts the events the host gave up on at its own
                   attempt limit (on top of the executor's dead letters)
    injected_*     faults injected (duplicates, held back, failures, restarts)

Latency is from the moment the host stored the event to the moment an
instance acknowledged its first successful delivery: the queueing, backoff
and handler time a user waits for, without the emulator's own delivery time.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..outcome import ALL as OUTCOMES

COUNTERS = (
    "received", "delivered", *OUTCOMES, "unanswered", "retried",
    "injected_duplicates", "injected_holds", "injected_failures", "injected_restarts", "in_flight",
)


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

    def outcome(self, trigger: str, outcome: str) -> None:
        """An instance answered a delivery with `outcome` (an unexpected one gets a counter of its own)."""
        with self._lock:
            counts = self._get(trigger).counts
            counts[outcome] = counts.get(outcome, 0) + 1

    def latency(self, trigger: str, seconds: float) -> None:
        """An event was acknowledged `seconds` after the host stored it."""
        with self._lock:
            self._get(trigger).latencies.append(seconds)

    def counter(self, trigger: str, name: str) -> int:
        """One counter, without the latency percentiles a snapshot sorts for (a poll's cheap question)."""
        with self._lock:
            stats = self._by_trigger.get(trigger)  # asking adds no row for an unknown trigger
            return stats.counts.get(name, 0) if stats is not None else 0

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
