"""Pure tests of event decoding (no emulator, no network).

Every wire form of one event must decode to the same DocumentEvent; every
malformed request must give a BadEvent whose status and message say what is
wrong. The emulator fixture is one real delivery, captured once.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from onto_functions.decoding import decode_request
from onto_functions.encoding import encode_cloudevent
from onto_functions.events import LEGACY_EVENT_TYPES, BadEvent, DocumentEvent, Snapshot
from onto_functions.spec import EventKind
from onto_functions.values import (
    DocRef,
    GeoPoint,
    decode_json_value,
    decode_pb_fields,
    decode_pb_value,
    encode_json_value,
    parse_timestamp,
)

UTC = timezone.utc
FIXTURE = Path(__file__).parent / "fixtures" / "emulator_written_event.json"
FORMS = ("protobuf", "base64", "json", "structured", "legacy")
PREFIX = "google.cloud.firestore.document.v1."

T_CREATE = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
T_UPDATE = datetime(2024, 5, 6, 7, 8, 10, 654321, tzinfo=UTC)
T_DELETE = datetime(2024, 5, 6, 7, 8, 11, 1, tzinfo=UTC)

EVERY_VALUE = {
    "null": None,
    "yes": True,
    "no": False,
    "int": 42,
    "negative": -7,
    "big": 2**62,
    "zero": 0,
    "double": 1.5,
    "whole_double": 3.0,
    "text": "héllo ✓",
    "empty_text": "",
    "bytes": b"\x00\x01\xff",
    "when": datetime(2023, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    "before_1970": datetime(1969, 7, 20, 20, 17, 40, 500, tzinfo=UTC),
    "ref": DocRef("meetings/m1"),
    "nested_ref": DocRef("users/u1/sessions/s1"),
    "geo": GeoPoint(48.8584, 2.2945),
    "list": [1, "a", None, 2.5, {"x": [True, DocRef("a/b")]}],
    "empty_list": [],
    "map": {"k": {"deep": {"deeper": [datetime(2020, 2, 29, tzinfo=UTC)]}}},
    "empty_map": {},
}


def snapshot(data: dict, created: datetime, updated: datetime, path: str = "tickets/t1") -> Snapshot:
    return Snapshot(path=path, data=data, create_time=created, update_time=updated)


def make_event(kind: EventKind, event_type: str | None = None, auth: dict | None = None) -> DocumentEvent:
    """An event as Firestore would send it for a `kind` change of tickets/t1."""
    v1 = snapshot(dict(EVERY_VALUE), T_CREATE, T_CREATE)
    v2 = snapshot({**EVERY_VALUE, "int": 43, "added": "x"}, T_CREATE, T_UPDATE)
    before, after, time = {
        EventKind.CREATED: (None, v1, T_CREATE),
        EventKind.UPDATED: (v1, v2, T_UPDATE),
        EventKind.DELETED: (v2, None, T_DELETE),
    }[kind]
    return DocumentEvent(
        id=f"evt-{kind.value}",
        event_type=event_type or kind.event_type,
        kind=kind,
        time=time,
        project="demo-p",
        database="(default)",
        document="tickets/t1",
        before=before,
        after=after,
        auth=auth,
    )


CHANGES = (EventKind.CREATED, EventKind.UPDATED, EventKind.DELETED)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", CHANGES, ids=lambda k: k.value)
@pytest.mark.parametrize("trigger", ("exact", "written"))
def test_every_form_round_trips(form: str, kind: EventKind, trigger: str) -> None:
    event_type = kind.event_type if trigger == "exact" else EventKind.WRITTEN.event_type
    event = make_event(kind, event_type)
    headers, body = encode_cloudevent(event, form=form)
    assert decode_request(headers, body) == event


@pytest.mark.parametrize("kind", CHANGES, ids=lambda k: k.value)
def test_every_form_of_one_event_decodes_equal(kind: EventKind) -> None:
    event = make_event(kind, EventKind.WRITTEN.event_type)
    decoded = [decode_request(*encode_cloudevent(event, form=form)) for form in FORMS]
    assert all(d == decoded[0] for d in decoded)
    assert decoded[0].kind is kind


@pytest.mark.parametrize("form", ("protobuf", "base64", "json", "structured"))
def test_auth_context_round_trips(form: str) -> None:
    auth = {"authtype": "service_account", "authid": "sa@demo-p.iam.gserviceaccount.com"}
    event = make_event(EventKind.UPDATED, PREFIX + "written.withAuthContext", auth=auth)
    decoded = decode_request(*encode_cloudevent(event, form=form))
    assert decoded == event
    assert decoded.auth == auth


def test_auth_is_dropped_for_types_without_auth_context() -> None:
    event = make_event(EventKind.CREATED)
    headers, body = encode_cloudevent(event, form="protobuf")
    headers.update({"ce-authtype": "system", "ce-authid": "x"})
    assert decode_request(headers, body).auth is None


def test_legacy_form_cannot_carry_auth_context() -> None:
    event = make_event(EventKind.CREATED, PREFIX + "created.withAuthContext", auth={"authtype": "system", "authid": ""})
    with pytest.raises(ValueError, match="no legacy form"):
        encode_cloudevent(event, form="legacy")


def test_structured_with_data_base64() -> None:
    event = make_event(EventKind.UPDATED)
    headers, body = encode_cloudevent(event, form="protobuf")
    structured = {k.removeprefix("ce-"): v for k, v in headers.items() if k.startswith("ce-")}
    structured.update(datacontenttype="application/protobuf", data_base64=base64.b64encode(body).decode())
    request = ({"Content-Type": "application/cloudevents+json; charset=utf-8"}, json.dumps(structured).encode())
    assert decode_request(*request) == event


def test_header_names_are_case_insensitive_and_parameters_ignored() -> None:
    event = make_event(EventKind.CREATED)
    headers, body = encode_cloudevent(event, form="json")
    shouted = {k.upper(): v for k, v in headers.items()}
    shouted["CONTENT-TYPE"] = "Application/JSON; charset=utf-8"
    assert decode_request(shouted, body) == event


def test_emulator_datacontenttype_header_is_used_without_content_type() -> None:
    event = make_event(EventKind.CREATED)
    headers, body = encode_cloudevent(event, form="base64")
    del headers["content-type"]
    headers["ce-datacontenttype"] = "application/protobuf"
    assert decode_request(headers, body) == event


def test_bytes_like_body_is_accepted() -> None:
    headers, body = encode_cloudevent(make_event(EventKind.CREATED), form="protobuf")
    assert decode_request(headers, bytearray(body)) == decode_request(headers, body)


def test_proto_plus_to_json_output_decodes_like_the_protobuf() -> None:
    """JSON written by google-events itself (camelCase and snake_case keys)."""
    from google.events.cloud.firestore_v1 import DocumentEventData

    event = make_event(EventKind.UPDATED)
    headers, body = encode_cloudevent(event, form="protobuf")
    message = DocumentEventData.deserialize(body)
    for preserve in (False, True):
        json_body = DocumentEventData.to_json(message, preserving_proto_field_name=preserve).encode()
        json_headers = {**headers, "content-type": "application/json"}
        assert decode_request(json_headers, json_body) == event


def test_decodes_proto_plus_values_too() -> None:
    from google.events.cloud.firestore_v1 import DocumentEventData

    _, body = encode_cloudevent(make_event(EventKind.CREATED), form="protobuf")
    message = DocumentEventData.deserialize(body)  # proto-plus wrappers
    assert decode_pb_fields(message.value.fields) == EVERY_VALUE
    assert decode_pb_value(message.value.fields["map"]) == EVERY_VALUE["map"]


# ---------------------------------------------------------------- the real emulator body


def emulator_request() -> tuple[dict[str, str], bytes]:
    fixture = json.loads(FIXTURE.read_text())
    return fixture["headers"], fixture["body"].encode("ascii")


def test_real_emulator_body_decodes() -> None:
    headers, body = emulator_request()
    event = decode_request(headers, body)
    assert event.event_type == PREFIX + "written"
    assert event.kind is EventKind.UPDATED  # an update({"i": 6}) after a set()
    assert (event.project, event.database, event.document) == ("demo-cap", "(default)", "tickets/t1")
    assert event.time == datetime(2026, 11, 28, 9, 1, 7, tzinfo=UTC)  # whole seconds
    assert event.before.data["i"] == 5 and event.after.data["i"] == 6
    after = event.after.data
    assert after["s"] == "héllo"
    assert after["big"] == 2**62
    assert after["ts"] == datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert after["by"] == b"\x00\x01\xff"
    assert after["ref"] == DocRef("meetings/m1")
    assert after["geo"] == GeoPoint(1.5, -2.25)
    assert after["arr"] == [1, "a", {"x": [True]}]
    assert after["m"] == {"k": {"deep": 1}}
    assert after["empty_m"] == {} and after["empty_a"] == [] and after["n"] is None
    assert event.after.create_time < event.after.update_time == event.version
    assert event.before.update_time == event.after.create_time


def test_real_emulator_body_reencodes_to_the_same_event() -> None:
    event = decode_request(*emulator_request())
    for form in FORMS:
        assert decode_request(*encode_cloudevent(event, form=form)) == event


def test_emulator_body_is_base64_of_what_production_sends() -> None:
    headers, body = emulator_request()
    assert decode_request(headers, base64.b64decode(body)) == decode_request(headers, body)


def test_document_comes_from_the_body_not_mojibake_headers() -> None:
    """The emulator sends a document id "é" as raw UTF-8 in ce-document, which
    Python HTTP servers decode as latin-1 ("Ã©"). The body's name is right."""
    event = make_event(EventKind.CREATED)
    event = DocumentEvent(**{**event.__dict__, "document": "tickets/t 2 é",
                             "after": snapshot({"a": 1}, T_CREATE, T_CREATE, path="tickets/t 2 é")})
    headers, body = encode_cloudevent(event, form="protobuf")
    mangled = "tickets/t 2 é".encode("utf-8").decode("latin-1")
    headers.update({"ce-document": mangled, "ce-subject": "documents/" + mangled})
    assert decode_request(headers, body).document == "tickets/t 2 é"


# ---------------------------------------------------------------- kind, version, bind


@pytest.mark.parametrize("kind", CHANGES, ids=lambda k: k.value)
def test_kind_is_the_actual_change_never_written(kind: EventKind) -> None:
    event = decode_request(*encode_cloudevent(make_event(kind, PREFIX + "written"), form="base64"))
    assert event.kind is kind
    assert event.trigger_kind is EventKind.WRITTEN
    assert (event.before is not None, event.after is not None) == {
        EventKind.CREATED: (False, True),
        EventKind.UPDATED: (True, True),
        EventKind.DELETED: (True, False),
    }[kind]


def test_version_of_create_and_update_is_the_new_update_time() -> None:
    assert make_event(EventKind.CREATED).version == T_CREATE
    assert make_event(EventKind.UPDATED).version == T_UPDATE


def test_version_of_delete_is_the_event_time() -> None:
    assert make_event(EventKind.DELETED).version == T_DELETE


def test_version_of_delete_never_precedes_the_deleted_write() -> None:
    """ce-time in whole seconds (the emulator) can be earlier than the deleted
    document's update_time; the delete still orders after that write."""
    event = make_event(EventKind.DELETED)
    truncated = event.before.update_time.replace(microsecond=0)
    early = DocumentEvent(**{**event.__dict__, "time": truncated})
    assert early.version == event.before.update_time
    write = make_event(EventKind.UPDATED)
    assert write.version == early.version
    assert early.order_key > write.order_key


def test_bind_returns_a_copy_with_params() -> None:
    event = make_event(EventKind.CREATED)
    bound = event.bind({"ticket_id": "t1"})
    assert bound.params == {"ticket_id": "t1"} and event.params == {}
    assert bound.document == event.document and bound != event


# ---------------------------------------------------------------- legacy events


@pytest.mark.parametrize("legacy_type,v2_type", sorted(LEGACY_EVENT_TYPES.items()))
def test_legacy_event_types_map_to_v2(legacy_type: str, v2_type: str) -> None:
    kind = {"write": EventKind.UPDATED, "create": EventKind.CREATED,
            "update": EventKind.UPDATED, "delete": EventKind.DELETED}[legacy_type.rsplit(".", 1)[1]]
    headers, body = encode_cloudevent(make_event(kind, v2_type), form="legacy")
    assert json.loads(body)["context"]["eventType"] == legacy_type
    event = decode_request(headers, body)
    assert event.event_type == v2_type
    assert event.kind is kind


def test_legacy_context_keys_at_top_level_and_resource_object() -> None:
    event = make_event(EventKind.UPDATED, PREFIX + "written")
    headers, body = encode_cloudevent(event, form="legacy")
    obj = json.loads(body)
    context = obj.pop("context")
    context["resource"] = {"name": context["resource"], "service": "firestore.googleapis.com"}
    flat = {**obj, **context}
    assert decode_request(headers, json.dumps(flat).encode()) == event


def test_legacy_empty_old_value_means_no_before() -> None:
    """1st gen production sends `oldValue: {}` for a create."""
    event = make_event(EventKind.CREATED, PREFIX + "written")
    headers, body = encode_cloudevent(event, form="legacy")
    obj = json.loads(body)
    obj["data"]["oldValue"] = {}
    assert decode_request(headers, json.dumps(obj).encode()) == event


# ---------------------------------------------------------------- base64 or raw


def ascii_only_event() -> DocumentEvent:
    """An event whose raw protobuf is all ASCII (small timestamps, no strings:
    string_value is field 17, whose tag needs a byte above 0x7f)."""
    t = datetime(1970, 1, 1, 0, 1, 5, tzinfo=UTC)  # seconds=65: one ASCII varint byte
    after = Snapshot(path="a/b", data={"n": 65, "yes": True, "m": {"k": None}}, create_time=t, update_time=t)
    return DocumentEvent(id="e", event_type=PREFIX + "created", kind=EventKind.CREATED, time=t,
                         project="p", database="d", document="a/b", before=None, after=after)


def test_raw_protobuf_that_is_all_ascii_is_not_taken_for_base64() -> None:
    event = ascii_only_event()
    headers, body = encode_cloudevent(event, form="protobuf")
    assert body.isascii() and body[:1] == b"\n"
    assert decode_request(headers, body) == event
    headers, text = encode_cloudevent(event, form="base64")
    assert decode_request(headers, text) == event


def test_base64_with_line_breaks_is_accepted() -> None:
    event = make_event(EventKind.UPDATED)
    headers, text = encode_cloudevent(event, form="base64")
    wrapped = b"\r\n".join(text[i:i + 76] for i in range(0, len(text), 76)) + b"\n"
    assert decode_request(headers, wrapped) == event


# ---------------------------------------------------------------- errors


def binary(form: str = "protobuf", kind: EventKind = EventKind.UPDATED) -> tuple[dict[str, str], bytes]:
    return encode_cloudevent(make_event(kind), form=form)


def bad(headers: dict[str, str], body: bytes, status: int = 400) -> str:
    with pytest.raises(BadEvent) as caught:
        decode_request(headers, body)
    assert caught.value.status == status
    assert isinstance(caught.value, ValueError)
    return str(caught.value)


@pytest.mark.parametrize("form", ("protobuf", "base64", "json"))
def test_empty_body(form: str) -> None:
    headers, _ = binary(form)
    assert "empty body" in bad(headers, b"")


def test_truncated_protobuf_inside_a_document_is_corrupt() -> None:
    headers, body = binary()
    message = bad(headers, body[:57])
    assert message == "body is not a DocumentEventData protobuf (truncated or corrupt, 57 bytes)"


def test_truncated_base64_protobuf_is_corrupt() -> None:
    headers, body = binary()
    cut = base64.b64encode(body[:100])
    assert "truncated or corrupt, base64 text of 136 bytes, 100 bytes decoded" in bad(headers, cut)


def test_truncated_base64_text() -> None:
    headers, text = binary("base64")
    assert bad(headers, text[:-3]) == (
        f"body is base64 text that does not decode (truncated or corrupt, {len(text) - 3} bytes)"
    )


def test_every_truncation_of_a_protobuf_body_is_refused() -> None:
    """Protobuf parses some truncations silently (at top-level field
    boundaries). Each prefix must still be refused, for each event type."""
    for event_type in ("written", "updated"):
        event = make_event(EventKind.UPDATED, PREFIX + event_type)
        headers, body = encode_cloudevent(event, form="protobuf")
        for n in range(len(body) - 2):  # the last 2 bytes are the (empty) update_mask
            with pytest.raises(BadEvent):
                decode_request(headers, body[:n])
        headers, text = encode_cloudevent(event, form="base64")
        for n in range(len(text)):  # a prefix may lose only the update_mask
            try:
                assert decode_request(headers, text[:n]) == event
            except BadEvent:
                pass


def end_of_first_field(body: bytes) -> int:
    """Where the first (length-delimited) top-level field of a protobuf ends."""
    length, shift, i = 0, 0, 1
    while True:
        byte = body[i]
        length |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not byte & 0x80:
            return i + length


def test_update_truncated_to_its_value_looks_like_a_create_and_is_refused() -> None:
    headers, body = encode_cloudevent(make_event(EventKind.UPDATED, PREFIX + "written"), form="protobuf")
    assert body[0] == 0x0A  # value (field 1) comes first, old_value (field 2) next
    value_only = body[: end_of_first_field(body)]
    message = bad(headers, value_only)  # parses without error: only the checks catch it
    assert "old_value was lost" in message


def test_created_type_with_both_sides_is_refused() -> None:
    headers, body = binary()
    headers["ce-type"] = PREFIX + "created"
    assert bad(headers, body) == (
        f"event type '{PREFIX}created' does not match its body: the body has value and old_value, "
        "i.e. the document was updated"
    )


def test_garbage_body_is_neither_protobuf_nor_base64() -> None:
    headers, _ = binary()
    message = bad(headers, "plain text, é".encode())
    assert message.startswith("body is neither a DocumentEventData protobuf nor base64 text of one")


def test_json_body_sent_as_protobuf_gets_a_hint() -> None:
    headers, _ = binary()
    _, json_body = binary("json")
    assert "looks like JSON" in bad(headers, json_body)


def test_valid_base64_of_something_else() -> None:
    headers, _ = binary()
    assert "neither a DocumentEventData protobuf" in bad(headers, base64.b64encode(b"hello world"))


def test_protobuf_that_holds_no_document() -> None:
    headers, _ = binary()
    message = bad(headers, b"\x1a\x00")  # only an empty update_mask
    assert "neither value (after) nor old_value (before)" in message


@pytest.mark.parametrize("header", ("ce-id", "ce-type", "ce-source", "ce-specversion", "ce-time"))
def test_missing_cloudevent_header(header: str) -> None:
    headers, body = binary()
    del headers[header]
    assert bad(headers, body) == f"missing CloudEvent header {header}"


@pytest.mark.parametrize("content_type", ("text/plain", "application/xml", "application/cloudevents-batch+json"))
def test_unsupported_content_type(content_type: str) -> None:
    headers, body = binary()
    headers["content-type"] = content_type
    assert bad(headers, body, status=415) == (
        f"unsupported content type {content_type!r}: expected "
        "application/protobuf, application/json or application/cloudevents+json"
    )


def test_unsupported_content_type_without_ce_headers() -> None:
    assert bad({"Content-Type": "text/plain"}, b"hi", status=415).startswith("unsupported content type 'text/plain'")


def test_missing_content_type() -> None:
    headers, body = binary()
    del headers["content-type"]
    assert bad(headers, body, status=415).startswith("missing content type")
    assert bad({}, body, status=415).startswith("missing content type")


@pytest.mark.parametrize("event_type", ("x", "google.cloud.pubsub.topic.v1.messagePublished",
                                        PREFIX + "archived", PREFIX + "written.withSomething"))
def test_not_a_firestore_document_event(event_type: str) -> None:
    headers, body = binary()
    headers["ce-type"] = event_type
    assert bad(headers, body).startswith(f"event type {event_type!r} is not a Firestore document event")


def test_unknown_legacy_event_type() -> None:
    headers, body = binary("legacy")
    obj = json.loads(body)
    obj["context"]["eventType"] = "providers/cloud.pubsub/eventTypes/topic.publish"
    message = bad(headers, json.dumps(obj).encode())
    assert message.startswith("event type 'providers/cloud.pubsub/eventTypes/topic.publish' is not a Firestore")


def test_legacy_missing_event_id() -> None:
    headers, body = binary("legacy")
    obj = json.loads(body)
    del obj["context"]["eventId"]
    assert bad(headers, json.dumps(obj).encode()) == "legacy event is missing context.eventId"


@pytest.mark.parametrize("form", ("json", "legacy"))
def test_document_name_not_under_documents(form: str) -> None:
    headers, body = binary(form)
    obj = json.loads(body)
    data = obj.get("data", obj)
    data["value"]["name"] = data["oldValue"]["name"] = "foo"
    assert "document name 'foo'" in bad(headers, json.dumps(obj).encode())
    assert "is not under projects/{p}/databases/{d}/documents/" in bad(headers, json.dumps(obj).encode())


def test_value_and_old_value_of_different_documents() -> None:
    headers, body = binary("json")
    obj = json.loads(body)
    obj["oldValue"]["name"] = obj["oldValue"]["name"].replace("t1", "t2")
    assert "value and old_value name different documents" in bad(headers, json.dumps(obj).encode())


def test_bad_specversion_and_time() -> None:
    headers, body = binary()
    assert "specversion '0.3'" in bad({**headers, "ce-specversion": "0.3"}, body)
    assert "event time: timestamp 'yesterday'" in bad({**headers, "ce-time": "yesterday"}, body)
    assert "has no time zone" in bad({**headers, "ce-time": "2024-01-02T03:04:05"}, body)


def test_invalid_json_bodies() -> None:
    headers, _ = binary("json")
    assert bad(headers, b"{not json").startswith("body is not valid JSON (DocumentEventData)")
    assert bad(headers, b"[1, 2]") == "body is JSON list, expected a DocumentEventData object"
    assert bad({"content-type": "application/json"}, b'{"a": 1}').startswith(
        "JSON body without ce-* headers is neither a structured CloudEvent")


def test_json_field_of_unknown_type() -> None:
    headers, body = binary("json", EventKind.CREATED)
    obj = json.loads(body)
    obj["value"]["fields"]["weird"] = {"vectorValue": [1]}
    assert "value (after) is not a Firestore document: field weird: unknown Firestore value type 'vectorValue'" in bad(
        headers, json.dumps(obj).encode())


def test_structured_event_without_data_or_id() -> None:
    headers, body = binary("structured")
    obj = json.loads(body)
    assert bad(headers, json.dumps({k: v for k, v in obj.items() if k != "id"}).encode()) == (
        "missing CloudEvent attribute 'id' in the structured event")
    assert bad(headers, json.dumps({k: v for k, v in obj.items() if k != "data"}).encode()) == (
        "structured event has neither 'data' nor 'data_base64'")


def test_protobuf_content_type_without_ce_headers() -> None:
    _, body = binary()
    assert bad({"content-type": "application/protobuf"}, body).startswith("missing CloudEvent header ce-specversion")


def test_document_without_update_time() -> None:
    headers, body = binary("json", EventKind.CREATED)
    obj = json.loads(body)
    del obj["value"]["updateTime"]
    assert bad(headers, json.dumps(obj).encode()).startswith("value (after) has no updateTime")


# ---------------------------------------------------------------- values


def test_json_value_forms() -> None:
    assert decode_json_value({"integerValue": "5"}) == 5
    assert decode_json_value({"integerValue": 5}) == 5
    assert decode_json_value({"doubleValue": 2}) == 2.0
    assert math.isnan(decode_json_value({"doubleValue": "NaN"}))
    assert decode_json_value({"doubleValue": "-Infinity"}) == -math.inf
    assert decode_json_value({"nullValue": None}) is None
    assert decode_json_value({"nullValue": "NULL_VALUE"}) is None
    assert decode_json_value({"bytesValue": "AAH_"}) == b"\x00\x01\xff"  # URL-safe, unpadded
    assert decode_json_value({"string_value": "snake"}) == "snake"
    assert decode_json_value({"mapValue": {}}) == {}
    assert decode_json_value({"arrayValue": {}}) == []
    assert decode_json_value({"referenceValue": "projects/p/databases/(default)/documents/a/b"}) == DocRef("a/b")
    assert decode_json_value({"geoPointValue": {"latitude": 1, "longitude": -2}}) == GeoPoint(1.0, -2.0)


def test_timestamps_keep_microseconds_and_are_utc() -> None:
    assert parse_timestamp("2024-01-02T03:04:05.123456789Z") == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    moved = parse_timestamp("2024-01-02T05:04:05.5+02:00")
    assert moved == datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC) and moved.tzinfo is UTC
    assert decode_json_value({"timestampValue": "2024-01-02T03:04:05Z"}).tzinfo is UTC


def test_encoding_rejects_naive_datetimes_and_unknown_types() -> None:
    with pytest.raises(ValueError, match="naive"):
        encode_json_value(datetime(2024, 1, 1), "projects/p/databases/d/documents")
    with pytest.raises(TypeError, match="cannot encode set"):
        encode_json_value({1, 2}, "projects/p/databases/d/documents")


def test_non_utc_datetimes_encode_to_the_same_instant() -> None:
    plus2 = timezone(timedelta(hours=2))
    event = make_event(EventKind.CREATED)
    local = {"when": datetime(2024, 1, 1, 12, 0, 0, 7, tzinfo=plus2)}
    after = snapshot(local, T_CREATE, T_CREATE)
    event = DocumentEvent(**{**event.__dict__, "after": after})
    for form in FORMS:
        decoded = decode_request(*encode_cloudevent(event, form=form))
        assert decoded.after.data["when"] == local["when"]
        assert decoded.after.data["when"].tzinfo is UTC
