"""Events that are not document changes: a Pub/Sub message, a scheduled tick.

Why their own types instead of a `DocumentEvent` with empty sides: the
executor's document steps (path match, kind check, watermark, before/after)
mean nothing for them, and a type says so where a flag would be forgotten.
What they share with a document event is what the exactly-once loop needs:
`id`, `time`, `project`, `database`, `event_type`, a `subject` for logs and
bookkeeping, and a ledger key (`ledger.event_key`): the message id for a
message (Pub/Sub keeps it across redeliveries), the scheduled time for a
tick (Cloud Scheduler keeps it across its retries).

`time` is what the age limit counts from; a replay moves it to now
(ops/dead_letters.py). The publish or scheduled time the event reports is
kept apart (`publish_time`, `scheduled_time`), so a replayed tick keeps its
ledger key and a replayed message its publish time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, Union

from .spec import PUBSUB_EVENT_TYPE, SCHEDULE_EVENT_TYPE, EventKind


@dataclass(frozen=True)
class MessageEvent:
    """One Pub/Sub message, whatever the wire form (Eventarc CloudEvent or push JSON)."""

    id: str  # the message id
    time: datetime  # the publish time, tz-aware UTC
    project: str
    database: str  # the Firestore database the trigger's store and ledger use
    topic: str  # the topic id (not the full resource name)
    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    ordering_key: str = ""
    subscription: str = ""
    event_type: str = PUBSUB_EVENT_TYPE
    published: datetime | None = None  # the publish time; None: `time`

    kind = EventKind.MESSAGE

    def __post_init__(self) -> None:
        if self.published is None:
            object.__setattr__(self, "published", self.time)

    @property
    def publish_time(self) -> datetime:
        return self.published or self.time

    @property
    def subject(self) -> str:
        return f"topics/{self.topic}"

    @property
    def version(self) -> datetime:
        return self.publish_time


@dataclass(frozen=True)
class TickEvent:
    """One firing of a schedule: Cloud Scheduler's call, or the local host's."""

    time: datetime  # the scheduled time, tz-aware UTC
    project: str
    database: str
    job: str = ""  # the Cloud Scheduler job name, when the caller said
    event_type: str = SCHEDULE_EVENT_TYPE
    scheduled: datetime | None = None  # the scheduled time (the ledger key); None: `time`

    kind = EventKind.TICK

    def __post_init__(self) -> None:
        if self.scheduled is None:
            object.__setattr__(self, "scheduled", self.time)

    @property
    def scheduled_time(self) -> datetime:
        return self.scheduled or self.time

    @property
    def id(self) -> str:
        return self.scheduled_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    @property
    def subject(self) -> str:
        return f"schedules/{self.job}" if self.job else "schedule"

    @property
    def version(self) -> datetime:
        return self.scheduled_time


StreamEvent = Union[MessageEvent, TickEvent]
