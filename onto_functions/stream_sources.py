"""Sources that are not documents: `source.pubsub(topic)` and `source.schedule("every 5 minutes")`.

    class OrderMediator(Mediator):
        source = source.pubsub("orders", schema=OrderSchema())

        @source.triggers.on_message
        def record(self, message, store): ...

They run through the same exactly-once executor as document triggers, the
message id or the scheduled time being the event's ledger key. What makes no
sense for them is refused when the class is declared, not at the first
event: latest-state semantics (a message or a tick has no document whose
newer state could supersede it) and `auth_context` (there is no writer).
"""

from __future__ import annotations

import re
from typing import Any

from .messages import Message, Tick
from .schedules import ScheduleError, parse_schedule
from .spec import EventKind, Semantics, TriggerOptions
from .stream_events import MessageEvent, TickEvent
from .triggers import Triggers

# Pub/Sub's rule for a topic id: 3-255 characters, starting with a letter, not "goog".
_TOPIC_RE = re.compile(r"^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$")


def _refuse_document_options(options: TriggerOptions, where: str, what: str) -> None:
    if options.semantics is Semantics.LATEST_STATE:
        raise TypeError(
            f"{where}: semantics='latest_state' needs document versions; {what} has none "
            "(each event is applied once, in any order: use the default 'every_event')"
        )
    if options.auth_context:
        raise TypeError(f"{where}: auth_context=True reports who wrote a document; {what} has no writer")


class MessageSource:
    """Messages published on one Pub/Sub topic, optionally loaded by a marshmallow schema."""

    def __init__(self, topic: str, schema: Any = None) -> None:
        if not isinstance(topic, str) or not _TOPIC_RE.match(topic) or topic.lower().startswith("goog"):
            raise ValueError(
                f"Pub/Sub topic id {topic!r} is not valid: 3-255 letters, digits and -_.~+%, "
                "starting with a letter and not with 'goog' (give the id, not projects/.../topics/...)"
            )
        if isinstance(schema, type):
            schema = schema()
        if schema is not None and not callable(getattr(schema, "load", None)):
            raise TypeError(f"schema must be a marshmallow Schema (class or instance), got {schema!r}")
        self.topic = topic
        self.schema = schema
        self.model = None
        self.triggers = Triggers(self, (EventKind.MESSAGE,))

    def describe(self) -> str:
        return f"pubsub:{self.topic}"

    def spec_fields(self) -> dict[str, Any]:
        schema = type(self.schema) if self.schema is not None else None
        return {"document": "", "topic": self.topic,
                "source_model": f"{schema.__module__}:{schema.__qualname__}" if schema else None}

    def check(self, options: TriggerOptions, where: str) -> None:
        _refuse_document_options(options, where, f"a message on topic {self.topic!r}")

    def bind(self, event: Any, kind: EventKind) -> tuple[Any, str]:
        if not isinstance(event, MessageEvent):
            return None, f"a {type(event).__name__} on a message trigger"
        if event.topic != self.topic:
            return None, f"a message of topic {event.topic!r} on a trigger of topic {self.topic!r}"
        return event, ""

    def argument(self, event: MessageEvent) -> Message:
        return Message(event, self.schema)


class ScheduleSource:
    """A schedule: Cloud Scheduler in production, the local host's timer on `onto emulate`."""

    def __init__(self, schedule: str, time_zone: str | None = None) -> None:
        try:
            self.parsed = parse_schedule(schedule, time_zone)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        self.schedule = self.parsed.text
        self.timezone = time_zone
        self.model = None
        self.triggers = Triggers(self, (EventKind.TICK,))

    def describe(self) -> str:
        return f"schedule:{self.schedule}"

    def spec_fields(self) -> dict[str, Any]:
        return {"document": "", "schedule": self.schedule, "timezone": self.timezone, "source_model": None}

    def check(self, options: TriggerOptions, where: str) -> None:
        _refuse_document_options(options, where, f"the schedule {self.schedule!r}")

    def bind(self, event: Any, kind: EventKind) -> tuple[Any, str]:
        if not isinstance(event, TickEvent):
            return None, f"a {type(event).__name__} on a schedule trigger"
        return event, ""

    def argument(self, event: TickEvent) -> Tick:
        return Tick(event)
