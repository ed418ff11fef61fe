"""Firestore document events: one `DocumentEvent`, whatever the wire form.

A Firestore-triggered function meets five request shapes:

1. binary-mode CloudEvent, `application/protobuf`, raw `DocumentEventData` bytes
   (production Eventarc);
2. the same headers with base64 TEXT of those bytes (the Firestore emulator);
3. binary-mode CloudEvent with a JSON `DocumentEventData` body;
4. structured-mode CloudEvent (`application/cloudevents+json`) with `data`
   (JSON) or `data_base64` (protobuf);
5. a legacy (1st gen) background event: `{"data": ..., "context": ...}`.

`decoding.decode_request` turns each into the same `DocumentEvent`, or raises
`BadEvent` with an HTTP status and a message naming what is wrong, so the
caller can answer 400/415 instead of crashing (a crash would be retried for a
day). `encoding.encode_cloudevent` is the inverse, for tests, benchmarks and
the local host. This module holds the data both share.

Cold start: this module imports no protobuf code. `google.events`' Firestore
types (about 0.1 s of imports: proto-plus and protobuf) load on the first
protobuf body, or earlier if the host calls `preload()`. JSON bodies never
load them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from onto_functions.spec import EventKind

__all__ = [
    "BadEvent",
    "DocumentEvent",
    "LEGACY_EVENT_TYPES",
    "Snapshot",
    "preload",
]

WITH_AUTH_SUFFIX = ".withAuthContext"

# 1st gen event types and the v2 types they correspond to.
LEGACY_EVENT_TYPES: Mapping[str, str] = {
    "providers/cloud.firestore/eventTypes/document.write": EventKind.WRITTEN.event_type,
    "providers/cloud.firestore/eventTypes/document.create": EventKind.CREATED.event_type,
    "providers/cloud.firestore/eventTypes/document.update": EventKind.UPDATED.event_type,
    "providers/cloud.firestore/eventTypes/document.delete": EventKind.DELETED.event_type,
}

PROTOBUF_TYPES = frozenset({"application/protobuf", "application/x-protobuf"})
JSON_TYPE = "application/json"
STRUCTURED_TYPE = "application/cloudevents+json"


class BadEvent(ValueError):
    """A request that is not a decodable Firestore document event.

    `status` is the HTTP answer: 400 for a malformed event, 415 for a content
    type this module does not read. Either way, retrying will not help.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- the data


@dataclass(frozen=True)
class Snapshot:
    """One side (before or after) of a document change."""

    path: str  # "tickets/t1": relative to the database's documents root
    data: dict[str, Any]  # decoded python values
    create_time: datetime | None  # tz-aware UTC
    update_time: datetime | None

    @property
    def id(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DocumentEvent:
    """A decoded Firestore document event, independent of its wire form."""

    id: str
    event_type: str  # as received, e.g. google.cloud.firestore.document.v1.written
    kind: EventKind  # the actual change (CREATED, UPDATED or DELETED), never WRITTEN
    time: datetime  # tz-aware UTC
    project: str
    database: str  # "(default)"
    document: str  # "tickets/t1"
    before: Snapshot | None
    after: Snapshot | None
    params: Mapping[str, str] = field(default_factory=dict)
    auth: Mapping[str, str] | None = None  # authtype/authid for .withAuthContext types

    @property
    def subject(self) -> str:
        """What the event is about, for logs and bookkeeping (a message's topic, a tick's schedule)."""
        return self.document

    def bind(self, params: Mapping[str, str]) -> "DocumentEvent":
        """A copy carrying the path parameters the executor matched."""
        return replace(self, params=dict(params))

    @property
    def version(self) -> datetime:
        """What orders events of one document (delivery order is not guaranteed).

        A write's version is the document's new update_time. A delete has no
        new update_time, so it takes the event time, but never earlier than the
        deleted version: ce-time can be truncated to whole seconds (the
        emulator does that), which would put a delete before the write it removes.
        """
        if self.after is not None and self.after.update_time is not None:
            return self.after.update_time
        if self.before is not None and self.before.update_time is not None:
            return max(self.time, self.before.update_time)
        return self.time

    @property
    def order_key(self) -> tuple[datetime, int]:
        """`version`, with a delete after a write of the same version.

        Needed because of the max() above: with whole-second ce-time, a delete
        in the same second as the last write gets exactly that write's version
        (seen in the emulator). The delete removed that write, so it is later.
        """
        return (self.version, 1 if self.kind is EventKind.DELETED else 0)

    @property
    def trigger_kind(self) -> EventKind:
        """The kind the trigger was registered for (WRITTEN for a .written type)."""
        return EventKind.from_event_type(self.event_type)


# ---------------------------------------------------------------- protobuf types (lazy)


@lru_cache(maxsize=1)
def event_data_pb() -> type:
    """The raw protobuf class of `google.events.cloud.firestore.v1.DocumentEventData`.

    Imported on first use: it is the costliest import of this module. Only the
    Firestore types module is imported, not all of google.events. The raw (upb)
    class is returned because it parses and reads faster than the proto-plus
    wrapper, which re-marshals nested messages on every attribute access.
    """
    from google.events.cloud.firestore_v1.types.data import DocumentEventData

    return DocumentEventData.pb()


def preload() -> None:
    """Import the protobuf types now (e.g. at cold start) instead of on the first event."""
    event_data_pb()
