"""What the function host reports: one record per step of an event's life, and the final one
that `invoke` waits for.

Records are plain dicts (`{"event": "delivered", "trigger": ..., ...}`) handed to
one callback: `onto emulate --json` prints them, tests collect them. A record
that ends an event (delivered, dead-lettered) also wakes whoever waits for
that event's outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, TypeVar

log = logging.getLogger("onto_functions.local")

EventLog = Callable[[dict[str, Any]], None]
T = TypeVar("T")


class Waiter:
    """The final record of one event, once there is one."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._record: dict[str, Any] = {}

    def wait(self, timeout: float) -> dict[str, Any] | None:
        return self._record if self._done.wait(timeout) else None

    def set(self, record: dict[str, Any]) -> None:
        self._record = record
        self._done.set()


class Journal:
    """Hands records to `on_event` (if any) and final records to the waiters of their events."""

    def __init__(self, on_event: EventLog | None = None) -> None:
        self.on_event = on_event
        self._waiters: dict[int, Waiter] = {}
        self._lock = threading.Lock()

    def emit(self, record: dict[str, Any]) -> None:
        if self.on_event is not None:
            record = {"time": round(time.time(), 3), **record}
            try:
                self.on_event(record)
            except Exception:  # a broken log sink must not stop delivery
                log.exception("event log callback failed")

    def expecting(self, store: Callable[[], T], seq_of: Callable[[T], int]) -> tuple[T, Waiter]:
        """Run `store` (which queues an event) and register a waiter for it before it can finish."""
        waiter = Waiter()
        with self._lock:
            stored = store()
            self._waiters[seq_of(stored)] = waiter
        return stored, waiter

    def finished(self, seq: int, record: dict[str, Any]) -> None:
        """`record` ends the event `seq`: emit it and wake its waiter."""
        self.emit(record)
        with self._lock:
            waiter = self._waiters.pop(seq, None)
        if waiter is not None:
            waiter.set(record)
