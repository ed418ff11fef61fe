"""`MessageEvent` / `TickEvent` → the requests that carry them (the inverse of stream_decoding.py).

Used where onto itself sends or keeps such a request: the local host firing
a schedule or `onto invoke` sending a message, a dead letter keeping the
event to replay it, and tests.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .stream_decoding import JOB_NAME_HEADER, SCHEDULE_TIME_HEADER
from .stream_events import MessageEvent, StreamEvent, TickEvent
from .values import format_timestamp


def message_json(event: MessageEvent) -> dict[str, Any]:
    """The `{"message": ..., "subscription": ...}` body Pub/Sub push and Eventarc both carry."""
    message: dict[str, Any] = {
        "data": base64.b64encode(event.data).decode("ascii"),
        "messageId": event.id,
        "publishTime": format_timestamp(event.publish_time),
    }
    if event.attributes:
        message["attributes"] = dict(event.attributes)
    if event.ordering_key:
        message["orderingKey"] = event.ordering_key
    return {"message": message, "subscription": event.subscription}


def encode_message(event: MessageEvent, form: str = "push") -> tuple[dict[str, str], bytes]:
    """`push` (Pub/Sub's push JSON), `binary` (Eventarc's CloudEvent) or `structured`."""
    body = message_json(event)
    attrs = {"specversion": "1.0", "type": event.event_type, "id": event.id,
             "source": f"//pubsub.googleapis.com/projects/{event.project}/topics/{event.topic}",
             "time": format_timestamp(event.publish_time)}
    if form == "push":
        return {"Content-Type": "application/json"}, json.dumps(body).encode()
    if form == "binary":
        headers = {f"ce-{k}": v for k, v in attrs.items()}
        return {**headers, "Content-Type": "application/json"}, json.dumps(body).encode()
    if form == "structured":
        structured = {**attrs, "datacontenttype": "application/json", "data": body}
        return {"Content-Type": "application/cloudevents+json"}, json.dumps(structured).encode()
    raise ValueError(f"unknown form {form!r}: use push, binary or structured")


def encode_tick(event: TickEvent) -> tuple[dict[str, str], bytes]:
    """Cloud Scheduler's HTTP call for one scheduled time."""
    when = event.scheduled_time
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + (when.strftime(".%f") if when.microsecond else "") + "Z"
    headers = {SCHEDULE_TIME_HEADER: stamp, "Content-Type": "application/octet-stream"}
    if event.job:
        headers[JOB_NAME_HEADER] = event.job
    return headers, b""


def encode_stream_event(event: StreamEvent) -> tuple[dict[str, str], bytes]:
    """The request a dead letter keeps: a structured CloudEvent for a message, the call for a tick."""
    if isinstance(event, MessageEvent):
        return encode_message(event, form="structured")
    return encode_tick(event)
