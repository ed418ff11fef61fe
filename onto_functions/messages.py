"""What a message or schedule handler receives: a `Message` or a `Tick`, beside the `Store`.

    @source.triggers.on_message
    def record(self, message: Message, store: Store) -> None:
        order = message.value          # the schema's load() of the JSON data, or the JSON itself
        message.data, message.attributes, message.message_id, message.publish_time

Why decoding is on demand, as for a document's sides (change.py): a handler
that reads only `data` or `attributes` must not fail on data that is not
JSON. A handler that asks for `json` or `value` of data that does not parse
or fit the schema gets `UnfitMessage`, which the executor dead-letters at
once: the message will never change, so a redelivery cannot help.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from .bounded_json import loads_value
from .stream_events import MessageEvent, TickEvent

_UNSET: Any = object()


class UnfitMessage(ValueError):
    """A message's data that is not JSON, or does not fit the source's schema."""


class Message:
    """One Pub/Sub message, its data decoded when asked."""

    __slots__ = ("event", "_schema", "_json", "_value")

    def __init__(self, event: MessageEvent, schema: Any = None) -> None:
        self.event = event
        self._schema = schema
        self._json: Any = _UNSET
        self._value: Any = _UNSET

    @property
    def data(self) -> bytes:
        return self.event.data

    @property
    def json(self) -> Any:
        """The data parsed as JSON (UTF-8)."""
        if self._json is _UNSET:
            try:  # bounded: nesting past Firestore's depth, NaN or huge numbers are unfit, not a crash
                self._json = loads_value(self.event.data, "message data")
            except ValueError as exc:
                raise UnfitMessage(f"message {self.message_id} on {self.topic!r}: data is not JSON: {exc}") from None
        return self._json

    @property
    def value(self) -> Any:
        """The JSON data loaded by the source's marshmallow schema, or the JSON itself without one."""
        if self._value is _UNSET:
            self._value = self.json if self._schema is None else self._load()
        return self._value

    def _load(self) -> Any:
        from marshmallow import ValidationError

        try:
            return self._schema.load(self.json)
        except ValidationError as exc:
            raise UnfitMessage(
                f"message {self.message_id} on {self.topic!r} does not fit {type(self._schema).__name__}: "
                f"{exc.messages}"
            ) from None

    @property
    def attributes(self) -> Mapping[str, str]:
        return self.event.attributes

    @property
    def message_id(self) -> str:
        return self.event.id

    @property
    def publish_time(self) -> datetime:
        return self.event.publish_time

    @property
    def ordering_key(self) -> str:
        return self.event.ordering_key

    @property
    def topic(self) -> str:
        return self.event.topic

    def __repr__(self) -> str:
        return f"Message(topic={self.topic!r}, message_id={self.message_id!r}, {len(self.data)} bytes)"


class Tick:
    """One firing of a schedule."""

    __slots__ = ("event",)

    def __init__(self, event: TickEvent) -> None:
        self.event = event

    @property
    def scheduled_time(self) -> datetime:
        """When this firing was due (Cloud Scheduler's schedule time), tz-aware UTC."""
        return self.event.scheduled_time

    @property
    def job(self) -> str:
        return self.event.job

    def __repr__(self) -> str:
        return f"Tick(scheduled_time={self.scheduled_time.isoformat()})"
