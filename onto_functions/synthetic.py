"""Synthetic document events: a change described the way the platform would describe it.

Why it lives in the runtime floor: the local host builds events for `onto
invoke` and the test helpers build them for handlers under test, and both
sit above the runtime. Imports only `events` and `spec`, so anything may
use it without pulling in the host or the testing helpers.

Each call gets a fresh event id and a fresh, strictly later update time
unless given, so that two events built one after the other are ordered as
two real writes would be.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from .events import DocumentEvent, Snapshot
from .spec import EventKind

__all__ = ["document_event", "next_time"]

_lock = threading.Lock()
_last = datetime(2000, 1, 1, tzinfo=timezone.utc)
_ids = itertools.count(1)


def next_time() -> datetime:
    """Now, or one microsecond after the last time handed out (never twice the same)."""
    global _last
    with _lock:
        now = datetime.now(timezone.utc)
        _last = now if now > _last else _last + timedelta(microseconds=1)
        return _last


def document_event(
    project: str,
    document: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
    update_time: datetime | None = None,
    before_update_time: datetime | None = None,
    event_type: EventKind = EventKind.WRITTEN,
) -> DocumentEvent:
    """A Firestore document event; `before`/`after` are document data (None: absent)."""
    if before is None and after is None:
        raise ValueError("an event needs a before or an after document")
    stamp = update_time or next_time()
    kind = EventKind.CREATED if before is None else EventKind.DELETED if after is None else EventKind.UPDATED
    before_stamp = before_update_time or (stamp - timedelta(seconds=1))
    return DocumentEvent(
        id=event_id or f"test-{next(_ids)}-{uuid.uuid4().hex[:8]}",
        event_type=event_type.event_type,
        kind=kind,
        time=time or stamp,
        project=project,
        database="(default)",
        document=document,
        before=None if before is None else Snapshot(document, dict(before), before_stamp, before_stamp),
        after=None if after is None else Snapshot(document, dict(after), before_stamp if before else stamp, stamp),
    )
