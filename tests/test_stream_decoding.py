"""Wire forms of Pub/Sub messages and Cloud Scheduler calls, schedules, and stream declarations (no emulator)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from onto_functions import Mediator, Message, source
from onto_functions.events import BadEvent
from onto_functions.ledger import event_key
from onto_functions.messages import UnfitMessage
from onto_functions.schedules import ScheduleError, parse_schedule
from onto_functions.stream_decoding import decode_message_request, decode_tick_request
from onto_functions.stream_encoding import encode_message, encode_tick
from onto_functions.stream_events import MessageEvent, TickEvent

WHEN = datetime(2026, 11, 28, 12, 0, 5, 123000, tzinfo=timezone.utc)
EVENT = MessageEvent(id="1234", time=WHEN, project="demo-p", database="(default)", topic="orders",
                     data=b'{"sku": "a", "qty": 2}', attributes={"k": "v"}, ordering_key="o1",
                     subscription="projects/demo-p/subscriptions/s1")


def decode(headers, body, topic="orders"):
    return decode_message_request(headers, body, topic=topic, database="(default)", project="own")


@pytest.mark.parametrize("form", ["push", "binary", "structured"])
def test_every_message_form_decodes_to_the_same_event(form):
    assert decode(*encode_message(EVENT, form=form)) == EVENT


def test_push_form_takes_the_project_from_the_subscription_and_the_topic_from_the_trigger():
    body = json.dumps({"message": {"data": "", "messageId": "9", "publishTime": "2026-01-01T00:00:00Z"}}).encode()
    event = decode({"Content-Type": "application/json"}, body, topic="t-x")
    assert (event.project, event.topic, event.data, event.attributes) == ("own", "t-x", b"", {})
    assert event_key(event) == "pubsub:t-x@9"


def test_firebase_tools_structured_event_is_keyed_by_message_id_not_ce_id():
    headers, body = encode_message(EVENT, form="structured")
    obj = json.loads(body)
    obj["id"] = "random-uuid"
    assert event_key(decode(headers, json.dumps(obj).encode())) == "pubsub:orders@1234"


@pytest.mark.parametrize("mutate, says", [
    (lambda m: m.pop("messageId"), "messageId"),
    (lambda m: m.update(publishTime="yesterday"), "publishTime"),
    (lambda m: m.update(data="not base64!"), "base64"),
    (lambda m: m.update(data=5), "base64 text"),
    (lambda m: m.update(attributes={"n": 1}), "not strings"),
    (lambda m: m.update(attributes=["x"]), "attributes"),
    (lambda m: m.update(orderingKey=3), "orderingKey"),
])
def test_a_malformed_message_is_refused_naming_the_field(mutate, says):
    envelope = json.loads(encode_message(EVENT)[1])
    mutate(envelope["message"])
    with pytest.raises(BadEvent, match=says):
        decode({"content-type": "application/json"}, json.dumps(envelope).encode())


@pytest.mark.parametrize("headers, body, says", [
    ({"content-type": "application/json"}, b"", "empty body"),
    ({"content-type": "application/json"}, b"[1]", "expected a"),
    ({"content-type": "application/json"}, b'{"subscription": "x"}', "no 'message'"),
    ({"content-type": "text/plain"}, b"{}", "unsupported content type"),
    ({"ce-specversion": "1.0", "ce-type": "google.cloud.firestore.document.v1.written", "ce-id": "1",
      "ce-source": "//x", "content-type": "application/json"}, b"{}", "not a Pub/Sub message"),
    ({"ce-specversion": "1.0", "ce-type": "google.cloud.pubsub.topic.v1.messagePublished", "ce-id": "1",
      "ce-source": "//pubsub.googleapis.com/topics/x", "content-type": "application/json"}, b"{}", "source"),
    ({"ce-specversion": "1.0", "ce-type": "google.cloud.pubsub.topic.v1.messagePublished", "ce-id": "1",
      "content-type": "application/protobuf"}, b"\x0a", "unsupported content type"),
])
def test_hostile_requests_are_refused(headers, body, says):
    with pytest.raises(BadEvent, match=says):
        decode(headers, body)


def test_a_tick_is_keyed_by_its_scheduled_time_and_round_trips():
    tick = TickEvent(time=WHEN, project="demo-p", database="(default)", job="onto-x")
    headers, _ = encode_tick(tick)
    decoded = decode_tick_request(headers, database="(default)", project="demo-p", clock=lambda: WHEN)
    assert decoded == tick and event_key(decoded) == "schedule@2026-11-28T12:00:05.123000Z"
    plain = decode_tick_request({"X-CloudScheduler-ScheduleTime": "2026-11-28T12:00:00+01:00"},
                                database="(default)", project="p", clock=lambda: WHEN)
    assert plain.time == datetime(2026, 11, 28, 11, tzinfo=timezone.utc)
    assert decode_tick_request({}, database="(default)", project="p", clock=lambda: WHEN).time == WHEN


@pytest.mark.parametrize("headers, says", [
    ({"X-CloudScheduler-ScheduleTime": "soon"}, "X-CloudScheduler-ScheduleTime"),
    ({"X-CloudScheduler-ScheduleTime": "2026-11-28T12:00:00"}, "time zone"),
    ({"ce-type": "google.cloud.pubsub.topic.v1.messagePublished"}, "not a CloudEvent"),
])
def test_a_bad_scheduler_call_is_refused(headers, says):
    with pytest.raises(BadEvent, match=says):
        decode_tick_request(headers, database="(default)", project="p", clock=lambda: WHEN)


def test_message_decodes_json_and_schema_on_demand():
    from marshmallow import Schema, fields

    class Order(Schema):
        sku = fields.Str(required=True)
        qty = fields.Int(required=True)

    assert Message(EVENT, Order()).value == {"sku": "a", "qty": 2}
    assert Message(EVENT).value == {"sku": "a", "qty": 2}
    raw = Message(MessageEvent(**{**EVENT.__dict__, "data": b"\xff\x00"}))
    assert raw.data == b"\xff\x00"  # raw bytes never fail
    with pytest.raises(UnfitMessage, match="not JSON"):
        raw.json
    with pytest.raises(UnfitMessage, match="qty"):
        Message(MessageEvent(**{**EVENT.__dict__, "data": b'{"sku": "a"}'}), Order()).value


@pytest.mark.parametrize("data", [b"[" * 5000 + b"]" * 5000, b'{"qty": NaN}', b'{"qty": 1e400}'])
def test_hostile_message_data_is_unfit_not_a_crash(data):
    """A poison message is dead-lettered at once (UnfitMessage), never redelivered as a handler failure."""
    with pytest.raises(UnfitMessage, match="not JSON"):
        Message(MessageEvent(**{**EVENT.__dict__, "data": data})).json


@pytest.mark.parametrize("text, zone, after, expected", [
    ("every 5 minutes", None, "2026-11-28T23:58:10Z", "2026-11-29T00:00:00Z"),
    ("every 2 hours", "Europe/Paris", "2026-11-28T12:30:00Z", "2026-11-28T13:00:00Z"),
    ("*/15 * * * *", None, "2026-11-28T10:15:00Z", "2026-11-28T10:30:00Z"),
    ("0 9 * * 1-5", "Europe/Paris", "2026-11-28T10:00:00Z", "2026-11-30T08:00:00Z"),
    ("30 4 1,15 * *", None, "2026-11-16T00:00:00Z", "2026-12-01T04:30:00Z"),
    ("0 0 * * 7", None, "2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z"),
])
def test_schedules_fire_when_cloud_scheduler_would(text, zone, after, expected):
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    assert parse_schedule(text, zone).next_after(parse(after)) == parse(expected)


@pytest.mark.parametrize("text, zone, says", [
    ("every 5 fortnights", None, "neither"),
    ("61 * * * *", None, "minute"),
    ("* * * *", None, "five fields"),
    ("every 5 minutes", "Mars/Olympus", "IANA"),
    ("", None, "non-empty"),
])
def test_bad_schedules_are_refused(text, zone, says):
    with pytest.raises(ScheduleError, match=says):
        parse_schedule(text, zone)


def test_declarations_refuse_what_streams_cannot_honour():
    with pytest.raises(TypeError, match="latest_state"):
        class Latest(Mediator):
            source = source.pubsub("orders")

            @source.triggers.on_message(semantics="latest_state")
            def handle(self, message, store): ...

    with pytest.raises(TypeError, match="auth_context"):
        class Audited(Mediator):
            class Meta:
                auth_context = True

            source = source.schedule("every 1 hours")

            @source.triggers.on_schedule
            def handle(self, tick, store): ...

    with pytest.raises(AttributeError, match="on_schedule"):
        source.schedule("every 1 hours").triggers.on_shedule
    with pytest.raises(AttributeError, match="on_message"):
        source.pubsub("orders").triggers.on_write
    with pytest.raises(ValueError, match="topic id"):
        source.pubsub("projects/p/topics/orders")
    with pytest.raises(ValueError, match="IANA"):
        source.schedule("every 1 hours", timezone="Nowhere")
