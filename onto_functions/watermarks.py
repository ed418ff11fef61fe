"""The watermarks this process last committed, to skip a ledger read (latest-state semantics).

A hint only, never trusted: every guess travels as a precondition of the
commit, so a wrong guess (another instance applied a newer event, or this
is a fresh instance that has seen nothing) commits nothing and the attempt
is redone with a read. Bounded, oldest entries first, so a long-lived
instance does not grow without limit.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from .events import DocumentEvent
from .spec import EventKind

NO_GUESS = object()


class WatermarkCache:
    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: dict[str, tuple[datetime, tuple[datetime, int]]] = {}
        self._lock = threading.Lock()

    def guess(self, event: DocumentEvent) -> Any:
        """The watermark's update time (None: absent), or NO_GUESS to read it."""
        with self._lock:
            entry = self._entries.get(event.document)
        if entry is not None:
            update_time, applied = entry
            return update_time if applied < event.order_key else NO_GUESS
        return None if event.kind is EventKind.CREATED else NO_GUESS

    def remember(self, event: DocumentEvent, update_time: datetime) -> None:
        with self._lock:
            self._entries.pop(event.document, None)
            self._entries[event.document] = (update_time, event.order_key)
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]

    def forget(self, document: str) -> None:
        with self._lock:
            self._entries.pop(document, None)


def applied_order(watermark: dict[str, Any]) -> tuple[datetime, int]:
    """The order key of the newest event a watermark document records."""
    return (watermark["version"], int(watermark.get("rank", 0)))
