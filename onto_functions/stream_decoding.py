"""Wire forms of a message or a tick → `MessageEvent` / `TickEvent`, or a `BadEvent` saying why.

A message trigger meets three forms:

1. Eventarc's binary-mode CloudEvent (production): ce-* headers with
   ce-type `google.cloud.pubsub.topic.v1.messagePublished`, ce-source
   `//pubsub.googleapis.com/projects/P/topics/T`, and a JSON body
   `{"message": {"data": base64, "attributes", "messageId", "publishTime",
   "orderingKey"}, "subscription": ...}`;
2. the same as a structured CloudEvent (`application/cloudevents+json`);
3. a Pub/Sub push request (what the Pub/Sub emulator's push subscription
   sends): the same JSON body and no ce-* headers. It does not name the
   topic, so the trigger's own topic is taken.

A schedule trigger meets Cloud Scheduler's HTTP call: its schedule time in
`X-CloudScheduler-ScheduleTime` (RFC 3339), the job in
`X-CloudScheduler-JobName`; the body is not read. A call without the time
(someone invoking the function by hand) is a tick at the time it arrives.

As in decoding.py, the rules are strict: a malformed request gets a 4xx
naming the problem, which the entry point records as a refusal instead of
letting the platform retry it for a day.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any, Callable, Mapping

from .decoding import _media_type, _parse_json_object, decode_request
from .events import JSON_TYPE, STRUCTURED_TYPE, BadEvent, DocumentEvent
from .spec import PUBSUB_EVENT_TYPE, EventKind, TriggerSpec
from .stream_events import MessageEvent, TickEvent
from .values import parse_timestamp

SCHEDULE_TIME_HEADER = "x-cloudscheduler-scheduletime"
JOB_NAME_HEADER = "x-cloudscheduler-jobname"
_TOPIC_SOURCE_RE = re.compile(r"^//pubsub\.googleapis\.com/projects/([^/]+)/topics/([^/]+)$")
_SUBSCRIPTION_RE = re.compile(r"^projects/([^/]+)/subscriptions/[^/]+$")
_MAX_ATTRIBUTES = 100  # Pub/Sub's own limit per message


def decode_for_spec(spec: TriggerSpec, headers: Mapping[str, str], body: bytes, *, project: str,
                    clock: Callable[[], datetime]) -> DocumentEvent | MessageEvent | TickEvent:
    """The event of one request to `spec`'s function, read as its source sends it (BadEvent if it cannot be)."""
    if spec.kind is EventKind.MESSAGE:
        return decode_message_request(headers, body, topic=spec.topic or "", database=spec.options.database,
                                      project=project)
    if spec.kind is EventKind.TICK:
        return decode_tick_request(headers, database=spec.options.database, project=project, clock=clock)
    return decode_request(headers, body)


def decode_kept_request(headers: Mapping[str, str], body: bytes, *, project: str, database: str,
                        ) -> DocumentEvent | MessageEvent | TickEvent:
    """A request a dead letter kept (failures.py), read without knowing its trigger: a Cloud Scheduler
    call, a Pub/Sub CloudEvent (its topic in its source), or a Firestore event."""
    h = {str(k).lower(): str(v) for k, v in headers.items()}
    if SCHEDULE_TIME_HEADER in h:
        return decode_tick_request(h, database=database, project=project, clock=lambda: datetime.min)
    structured = _media_type(h.get("content-type", "")) == STRUCTURED_TYPE and PUBSUB_EVENT_TYPE.encode() in body
    if h.get("ce-type") == PUBSUB_EVENT_TYPE or structured:
        return decode_message_request(h, body, topic="", database=database, project=project)
    return decode_request(h, body)


def decode_message_request(headers: Mapping[str, str], body: bytes, *, topic: str, database: str,
                           project: str) -> MessageEvent:
    """One request to a message trigger of `topic` (any of the three forms)."""
    h = {str(k).lower(): str(v) for k, v in headers.items()}
    media = _media_type(h.get("content-type", "")) or _media_type(h.get("ce-datacontenttype", ""))
    if "ce-type" in h or "ce-specversion" in h:
        attrs = {k[3:]: v for k, v in h.items() if k.startswith("ce-")}
        if media not in (JSON_TYPE, ""):
            raise BadEvent(f"unsupported content type {media!r} for a Pub/Sub CloudEvent: expected {JSON_TYPE}", 415)
        return _from_cloudevent(attrs, _parse_json_object(bytes(body or b""), "Pub/Sub CloudEvent data"),
                                database=database)
    if media == STRUCTURED_TYPE:
        obj = _parse_json_object(bytes(body or b""), "structured CloudEvent")
        data = obj.get("data")
        if not isinstance(data, dict):
            raise BadEvent("structured Pub/Sub CloudEvent has no JSON object 'data'")
        return _from_cloudevent({k: str(v) for k, v in obj.items() if k != "data"}, data, database=database)
    if media != JSON_TYPE:
        raise BadEvent(f"unsupported content type {media or 'none'!r} for a Pub/Sub message: expected "
                       f"{JSON_TYPE} (push) or ce-* headers (Eventarc)", 415)
    envelope = _parse_json_object(bytes(body or b""), "Pub/Sub push request")
    subscription = _subscription(envelope)
    found = _SUBSCRIPTION_RE.match(subscription)
    return _message(envelope, topic=topic, project=found.group(1) if found else project,
                    database=database, subscription=subscription)


def _from_cloudevent(attrs: Mapping[str, str], data: Mapping[str, Any], *, database: str) -> MessageEvent:
    for name in ("specversion", "type", "id", "source"):
        if not attrs.get(name):
            raise BadEvent(f"missing CloudEvent attribute {name}")
    if attrs["specversion"] != "1.0":
        raise BadEvent(f"unsupported CloudEvents specversion {attrs['specversion']!r}: expected '1.0'")
    if attrs["type"] != PUBSUB_EVENT_TYPE:
        raise BadEvent(f"event type {attrs['type']!r} is not a Pub/Sub message: expected {PUBSUB_EVENT_TYPE}")
    source = _TOPIC_SOURCE_RE.match(attrs["source"])
    if source is None:
        raise BadEvent(f"CloudEvent source {attrs['source']!r} is not //pubsub.googleapis.com/projects/P/topics/T")
    return _message(data, topic=source.group(2), project=source.group(1), database=database,
                    subscription=_subscription(data))


def _subscription(envelope: Mapping[str, Any]) -> str:
    subscription = envelope.get("subscription", "")
    if not isinstance(subscription, str):
        raise BadEvent(f"'subscription' must be a string, got {type(subscription).__name__}")
    return subscription


def _message(envelope: Mapping[str, Any], *, topic: str, project: str, database: str,
             subscription: str) -> MessageEvent:
    message = envelope.get("message")
    if not isinstance(message, dict):
        raise BadEvent("body has no 'message' object (expected {\"message\": {...}, \"subscription\": ...})")
    message_id = _either(message, "messageId", "message_id")
    if not isinstance(message_id, str) or not message_id:
        raise BadEvent("message has no 'messageId' (a non-empty string)")
    published = _either(message, "publishTime", "publish_time")
    try:
        publish_time = parse_timestamp(published)
    except ValueError as exc:
        raise BadEvent(f"message {message_id}: 'publishTime' {exc}") from None
    ordering_key = message.get("orderingKey", message.get("ordering_key", ""))
    if not isinstance(ordering_key, str):
        raise BadEvent(f"message {message_id}: 'orderingKey' must be a string")
    return MessageEvent(id=message_id, time=publish_time, project=project, database=database, topic=topic,
                        data=_data(message, message_id), attributes=_attributes(message, message_id),
                        ordering_key=ordering_key, subscription=subscription)


def _either(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    return obj.get(camel) if camel in obj else obj.get(snake)


def _data(message: Mapping[str, Any], message_id: str) -> bytes:
    data = message.get("data", "")
    if not isinstance(data, str):
        raise BadEvent(f"message {message_id}: 'data' must be base64 text, got {type(data).__name__}")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadEvent(f"message {message_id}: 'data' is not valid base64 ({len(data)} characters)") from None


def _attributes(message: Mapping[str, Any], message_id: str) -> dict[str, str]:
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict) or len(attributes) > _MAX_ATTRIBUTES:
        raise BadEvent(f"message {message_id}: 'attributes' must be an object of at most {_MAX_ATTRIBUTES} strings")
    bad = [k for k, v in attributes.items() if not isinstance(v, str)]
    if bad:
        raise BadEvent(f"message {message_id}: attribute(s) {', '.join(map(repr, bad[:5]))} are not strings")
    return dict(attributes)


def decode_tick_request(headers: Mapping[str, str], *, database: str, project: str,
                        clock: Callable[[], datetime]) -> TickEvent:
    """Cloud Scheduler's call to a schedule trigger (the body is not read)."""
    h = {str(k).lower(): str(v) for k, v in headers.items()}
    if "ce-type" in h:
        raise BadEvent(f"a schedule trigger takes Cloud Scheduler's HTTP call, not a CloudEvent of type {h['ce-type']!r}")
    text = h.get(SCHEDULE_TIME_HEADER)
    if text is None:
        return TickEvent(time=clock(), project=project, database=database, job=h.get(JOB_NAME_HEADER, ""))
    try:
        scheduled = parse_timestamp(text.strip())
    except ValueError as exc:
        raise BadEvent(f"header X-CloudScheduler-ScheduleTime: {exc}") from None
    return TickEvent(time=scheduled, project=project, database=database, job=h.get(JOB_NAME_HEADER, ""))
