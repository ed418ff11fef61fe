"""Hostile or broken requests: every one is a BadEvent (a 4xx naming what and where), never a crash.

One test (or parametrized set) per class of input that used to crash the
decoder or slip through it: timestamps outside Firestore's range wherever a
timestamp appears, nesting, numbers too large for their type, document paths
Firestore refuses, and a body that disagrees with its headers. Pure: no
emulator (each limit's value was measured on one, see names.py and values.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from onto_functions.bounded_json import MAX_DEPTH, nests_deeper_than
from onto_functions.decoding import decode_request
from onto_functions.encoding import encode_cloudevent
from onto_functions.events import BadEvent, DocumentEvent, Snapshot, event_data_pb
from onto_functions.spec import EventKind
from onto_functions.values import MAX_NESTING

UTC = timezone.utc
ROOT = "projects/demo-p/databases/(default)/documents"
T = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
JSON_FORMS = ("json", "structured", "legacy")
ALL_FORMS = ("protobuf", "base64", *JSON_FORMS)


def event(data: dict[str, Any] | None = None, path: str = "tickets/t1", *, time: datetime = T,
          created: datetime = T, kind: EventKind = EventKind.UPDATED) -> DocumentEvent:
    before = Snapshot(path, {"n": 1}, created, created)
    after = Snapshot(path, data if data is not None else {"n": 2}, created, time)
    sides = {EventKind.CREATED: (None, Snapshot(path, after.data, time, time)),
             EventKind.UPDATED: (before, after), EventKind.DELETED: (before, None)}[kind]
    return DocumentEvent(id="e1", event_type=kind.event_type, kind=kind, time=time, project="demo-p",
                         database="(default)", document=path, before=sides[0], after=sides[1])


def refused(headers: dict[str, str], body: bytes) -> str:
    """The message of the BadEvent the request must raise; nothing else may escape."""
    with pytest.raises(BadEvent) as caught:
        decode_request(headers, body)
    message = str(caught.value)
    assert caught.value.status == 400
    assert "\n" not in message and len(message) < 600, message
    return message


def edited_json(form: str, edit: Callable[[dict[str, Any]], None], ev: DocumentEvent | None = None
                ) -> tuple[dict[str, str], bytes]:
    """A JSON-form request of `ev` whose DocumentEventData `edit` changes."""
    headers, body = encode_cloudevent(ev or event(), form=form)
    obj = json.loads(body)
    edit(obj["data"] if form in ("structured", "legacy") else obj)
    return headers, json.dumps(obj).encode()


def edited_pb(edit: Callable[[Any], None], ev: DocumentEvent | None = None) -> tuple[dict[str, str], bytes]:
    headers, body = encode_cloudevent(ev or event(), form="protobuf")
    message = event_data_pb()().FromString(body)
    edit(message)
    return headers, message.SerializeToString()


# ---------------------------------------------------------------- timestamps


OUT_OF_RANGE_TEXT = (
    "9999-12-31T23:30:00-01:00",  # year 10000 in UTC
    "0001-01-01T00:00:00+00:01",  # year 0 in UTC
    "0000-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z",
)


@pytest.mark.parametrize("text", OUT_OF_RANGE_TEXT)
@pytest.mark.parametrize("form", ("protobuf", "structured", "legacy"))
def test_event_time_outside_firestores_range(form: str, text: str) -> None:
    headers, body = encode_cloudevent(event(), form=form)
    if form == "protobuf":
        headers["ce-time"] = text
    else:
        obj = json.loads(body)
        (obj["context"] if form == "legacy" else obj)["timestamp" if form == "legacy" else "time"] = text
        body = json.dumps(obj).encode()
    assert "timestamp" in refused(headers, body)


@pytest.mark.parametrize("text", OUT_OF_RANGE_TEXT)
@pytest.mark.parametrize("where", ("updateTime", "createTime", "value", "nested value"))
@pytest.mark.parametrize("form", JSON_FORMS)
def test_json_timestamps_outside_firestores_range(form: str, where: str, text: str) -> None:
    def edit(data: dict[str, Any]) -> None:
        if where in ("updateTime", "createTime"):
            data["value"][where] = text
        elif where == "value":
            data["value"]["fields"]["t"] = {"timestampValue": text}
        else:
            data["value"]["fields"]["m"] = {"mapValue": {"fields": {"l": {"arrayValue": {"values": [
                {"timestampValue": text}]}}}}}

    message = refused(*edited_json(form, edit))
    assert message.startswith("value (after) is not a Firestore document")
    assert "timestamp" in message
    if where == "nested value":
        assert "field m.l[0]:" in message


@pytest.mark.parametrize("seconds,nanos", [(-62135596801, 0), (253402300800, 0), (0, -1), (0, 10**9),
                                           (-(2**63), 0), (2**63 - 1, 0)])
@pytest.mark.parametrize("where", ("update_time", "create_time", "timestamp_value"))
def test_protobuf_timestamps_outside_firestores_range(where: str, seconds: int, nanos: int) -> None:
    def edit(message: Any) -> None:
        target = (message.value.fields["t"].timestamp_value if where == "timestamp_value"
                  else getattr(message.value, where))
        target.seconds, target.nanos = seconds, nanos

    assert "timestamp" in refused(*edited_pb(edit))


@pytest.mark.parametrize("form", ALL_FORMS)
def test_timestamps_at_the_edges_of_the_range_decode_and_round_trip(form: str) -> None:
    first = datetime(1, 1, 1, tzinfo=UTC)
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    ev = event({"first": first, "last": last}, time=last, created=first)
    decoded = decode_request(*encode_cloudevent(ev, form=form))
    assert decoded == ev
    assert decoded.after.data == {"first": first, "last": last}


# ---------------------------------------------------------------- nesting


def nested(depth: int, leaf: dict[str, Any], container: str = "mapValue") -> dict[str, Any]:
    value = leaf
    for level in range(depth):
        kind = container if container != "mixed" else ("mapValue", "arrayValue")[level % 2]
        value = {"mapValue": {"fields": {"k": value}}} if kind == "mapValue" else {"arrayValue": {"values": [value]}}
    return value


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000, b"[" * 101 + b"]" * 101,
                                  b'{"value":' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_deeply_nested_json_body_is_refused_before_parsing(body: bytes) -> None:
    headers, _ = encode_cloudevent(event(), form="json")
    assert "nests deeper than 100 levels" in refused(headers, body)
    assert "nests deeper" in refused({"content-type": "application/cloudevents+json"}, body)


def test_json_depth_counts_brackets_not_text_in_strings() -> None:
    assert not nests_deeper_than(json.dumps({"s": "[" * 500, "t": '\\"[[' * 300}).encode(), MAX_DEPTH)
    assert not nests_deeper_than(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, MAX_DEPTH)
    assert nests_deeper_than(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), MAX_DEPTH)
    assert nests_deeper_than(b"[" * 500, MAX_DEPTH)  # never closed: a parser descends all the same
    assert not nests_deeper_than(b"[]" * 10_000, MAX_DEPTH)


@pytest.mark.parametrize("container", ("mapValue", "arrayValue", "mixed"))
@pytest.mark.parametrize("form", JSON_FORMS)
def test_values_nested_as_deep_as_firestore_allows_decode_and_one_more_is_refused(form: str, container: str) -> None:
    leaf = {"geoPointValue": {"latitude": 1.5, "longitude": 2.5}}  # the deepest JSON leaf
    deepest = edited_json(form, lambda d: d["value"]["fields"].__setitem__("d", nested(MAX_NESTING, leaf, container)))
    decode_request(*deepest)  # the JSON envelope leaves room for Firestore's deepest value
    message = refused(*edited_json(form, lambda d: d["value"]["fields"].__setitem__(
        "d", nested(MAX_NESTING + 1, leaf, container))))
    assert f"deeper than Firestore's {MAX_NESTING} levels" in message


def test_protobuf_values_nested_past_firestores_limit_are_refused() -> None:
    def deep(levels: int) -> dict[str, Any]:
        value: Any = 1
        for _ in range(levels):
            value = {"k": value}
        return value

    for form in ("protobuf", "base64"):
        decode_request(*encode_cloudevent(event({"d": deep(MAX_NESTING)}), form=form))
        headers, body = encode_cloudevent(event({"d": deep(MAX_NESTING + 1)}), form=form)
        assert f"deeper than Firestore's {MAX_NESTING} levels" in refused(headers, body)
        headers, body = encode_cloudevent(event({"d": deep(200)}), form=form)  # past protobuf's own limit
        assert refused(headers, body)


# ---------------------------------------------------------------- numbers


HUGE = "1" * 400


@pytest.mark.parametrize("literal", [HUGE, HUGE + ".5", "-" + HUGE, "1e400", "-1e400"])
@pytest.mark.parametrize("field", ("doubleValue", "latitude", "longitude"))
@pytest.mark.parametrize("form", JSON_FORMS)
def test_numbers_beyond_a_double_are_refused(form: str, field: str, literal: str) -> None:
    headers, body = encode_cloudevent(event({"x": 1.5, "g": (g := _geo(1.25, 2.25))}), form=form)
    text = body.decode()
    target = {"doubleValue": '"doubleValue":1.5', "latitude": '"latitude":1.25', "longitude": '"longitude":2.25'}[field]
    assert target in text
    message = refused(headers, text.replace(target, target.split(":")[0] + ":" + literal).encode())
    assert "out of the range of a double" in message
    assert g  # the geo point is there to be broken


def _geo(latitude: float, longitude: float) -> Any:
    from onto_functions.values import GeoPoint

    return GeoPoint(latitude, longitude)


@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809", "1" * 5000, 1e300, "1.5", "0x10",
                                   " 5", "1_000", "\u0665", True, 2.5])
def test_integers_outside_int64_or_not_integers_are_refused(value: Any) -> None:
    headers, body = edited_json("json", lambda d: d["value"]["fields"].__setitem__("i", {"integerValue": value}))
    assert "integerValue" in refused(headers, body)


def test_integer_literals_past_4300_digits_are_refused_at_parsing() -> None:
    headers, body = encode_cloudevent(event({"x": 1.5}), form="json")
    body = body.replace(b'"doubleValue":1.5', b'"doubleValue":' + b"7" * 5000)
    assert "an integer of 5000 digits" in refused(headers, body)


@pytest.mark.parametrize("constant", (b"NaN", b"Infinity", b"-Infinity"))
def test_bare_nan_and_infinity_are_not_json(constant: bytes) -> None:
    headers, body = encode_cloudevent(event({"x": 1.5}), form="json")
    assert "is not JSON" in refused(headers, body.replace(b'"doubleValue":1.5', b'"doubleValue":' + constant))


@pytest.mark.parametrize("latitude,longitude", [(90.5, 0.0), (-91.0, 0.0), (0.0, 180.5), (0.0, -181.0),
                                                (float("nan"), 0.0), (0.0, float("inf"))])
@pytest.mark.parametrize("form", ("protobuf", "json"))
def test_geo_points_outside_the_globe_are_refused(form: str, latitude: float, longitude: float) -> None:
    headers, body = encode_cloudevent(event({"g": _geo(latitude, longitude)}), form=form)
    assert "field g: geo point" in refused(headers, body)


def test_geo_points_on_the_edges_decode() -> None:
    for point in (_geo(90.0, 180.0), _geo(-90.0, -180.0)):
        ev = event({"g": point})
        assert decode_request(*encode_cloudevent(ev, form="json")) == ev


# ---------------------------------------------------------------- text that is not UTF-8


def test_lone_surrogate_escapes_are_refused() -> None:
    headers, body = encode_cloudevent(event({"s": "x"}), form="json")
    for broken in (body.replace(b'"stringValue":"x"', b'"stringValue":"\\ud800"'),
                   body.replace(b'"s":', b'"\\udfff":')):
        assert "lone UTF-16 surrogate" in refused(headers, broken)
    paired = body.replace(b'"stringValue":"x"', b'"stringValue":"\\ud83d\\ude00"')
    assert decode_request(headers, paired).after.data["s"] == "\U0001F600"


def test_json_that_is_not_utf8_is_refused() -> None:
    headers, body = encode_cloudevent(event({"s": "x"}), form="json")
    for broken in (body.replace(b'"x"', b'"\xff"'), body.replace(b'"x"', b'"\xed\xa0\x80"')):
        assert "not UTF-8" in refused(headers, broken)


# ---------------------------------------------------------------- document paths


BAD_PATHS = {
    "tickets/t1/": "ends with '/'",
    "/tickets/t1": "starts with '/'",
    "tickets//t1": "document id that is empty",
    "tickets": "odd number of segments (1)",
    "a/b/c": "odd number of segments (3)",
    "tickets/.": "document id '.'",
    "tickets/..": "document id '..'",
    "./t1": "collection id '.'",
    "tickets/__x__": "reserved",
    "__tickets__/t1": "reserved",
    "tickets/__id0__": "reserved",
    "tickets/__id01__": "reserved",
    "__id5__/t1": "reserved",  # a numeric id is never a collection id
    "tickets/" + "x" * 1501: "of 1501 bytes",
    "tickets/" + "é" * 751: "of 1502 bytes",
    "/".join(["c", "d"] * 101): "101 collections deep",
    "/".join([f"c{'x' * 1000}{i}/d" for i in range(7)]): "makes a document name of",
}


@pytest.mark.parametrize("path,rule", sorted(BAD_PATHS.items()), ids=lambda v: v[:24] if isinstance(v, str) else v)
@pytest.mark.parametrize("form", ("protobuf", "json", "legacy"))
def test_document_paths_firestore_refuses_are_refused(form: str, path: str, rule: str) -> None:
    name = f"{ROOT}/{path}"
    if form == "protobuf":
        def edit(message: Any) -> None:
            message.value.name = message.old_value.name = name
        headers, body = edited_pb(edit)
    else:
        def edit_json(data: dict[str, Any]) -> None:
            data["value"]["name"] = data["oldValue"]["name"] = name
        headers, body = edited_json(form, edit_json)
    message = refused(headers, body)
    assert rule in message
    assert message.startswith("document name ")


@pytest.mark.parametrize("path,rule", sorted(BAD_PATHS.items()), ids=lambda v: v[:24] if isinstance(v, str) else v)
def test_document_paths_from_headers_alone_are_refused(path: str, rule: str) -> None:
    """Hand-written JSON without names: the attributes decide, under the same rules."""
    def nameless(data: dict[str, Any]) -> None:
        del data["value"]["name"], data["oldValue"]["name"]

    headers, body = edited_json("json", nameless)
    headers.update({"ce-document": path, "ce-subject": f"documents/{path}"})
    assert rule in refused(headers, body)


def test_a_trailing_slash_never_becomes_another_spelling_of_a_document() -> None:
    for spelling in ("tickets/t1/", "/tickets/t1", "tickets//t1", "/tickets/t1/"):
        headers, body = encode_cloudevent(event(), form="json")
        body = body.replace(f"{ROOT}/tickets/t1".encode(), f"{ROOT}/{spelling}".encode())
        headers.update({"ce-document": spelling, "ce-subject": f"documents/{spelling}"})
        refused(headers, body)


@pytest.mark.parametrize("path", ["tickets/__id5__", "tickets/__id-1__", "tickets/__id9223372036854775807__",
                                  "tickets/t\x00", "tickets/\x01\t\n", "tickets/...", "tickets/__", "tickets/___",
                                  "tickets/" + "x" * 1500, "tickets/" + "é" * 750, "tickets/t 2 é", "tickets/%41",
                                  "/".join(["c", "d"] * 100)])
@pytest.mark.parametrize("form", ALL_FORMS)
def test_document_paths_firestore_accepts_decode(form: str, path: str) -> None:
    """Each accepted by the emulator (measured): a real event for one must never be refused."""
    ev = event(path=path)
    assert decode_request(*encode_cloudevent(ev, form=form)) == ev


def test_references_to_paths_firestore_refuses_are_refused() -> None:
    for path in ("a//b", "a/b/", "a/b/c", "a/__x__"):
        headers, body = edited_json("json", lambda d: d["value"]["fields"].__setitem__(
            "r", {"referenceValue": f"{ROOT}/{path}"}))
        assert "field r: document name" in refused(headers, body)


# ---------------------------------------------------------------- body and headers disagree


@pytest.mark.parametrize("header,value,claim", [
    ("ce-document", "tickets/t2", "header ce-document 'tickets/t2'"),
    ("ce-subject", "documents/tickets/t2", "header ce-subject 'documents/tickets/t2'"),
    ("ce-project", "demo-other", "header ce-project 'demo-other'"),
    ("ce-database", "other-db", "header ce-database 'other-db'"),
    ("ce-source", "//firestore.googleapis.com/projects/demo-other/databases/(default)", "header ce-source"),
    ("ce-source", "//firestore.googleapis.com/projects/demo-p/databases/other-db", "header ce-source"),
])
@pytest.mark.parametrize("form", ("protobuf", "base64", "json"))
def test_headers_that_disagree_with_the_body_are_refused(form: str, header: str, value: str, claim: str) -> None:
    headers, body = encode_cloudevent(event(), form=form)
    headers[header] = value
    message = refused(headers, body)
    assert message.startswith(claim)
    assert f"disagrees with the body's document name '{ROOT}/tickets/t1'" in message


@pytest.mark.parametrize("attribute,value", [("document", "tickets/t2"), ("project", "demo-other"),
                                             ("subject", "documents/tickets/t2"), ("database", "db2")])
def test_structured_attributes_that_disagree_with_the_data_are_refused(attribute: str, value: str) -> None:
    headers, body = encode_cloudevent(event(), form="structured")
    obj = json.loads(body)
    obj[attribute] = value
    assert refused(headers, json.dumps(obj).encode()).startswith(f"attribute '{attribute}' {value!r} disagrees")


def test_legacy_resource_that_disagrees_with_the_data_is_refused() -> None:
    headers, body = encode_cloudevent(event(), form="legacy")
    obj = json.loads(body)
    obj["context"]["resource"] = f"{ROOT}/tickets/t2"
    assert refused(headers, json.dumps(obj).encode()).startswith(f"context.resource '{ROOT}/tickets/t2' disagrees")


def test_attributes_alone_must_agree_among_themselves() -> None:
    def nameless(data: dict[str, Any]) -> None:
        del data["value"]["name"], data["oldValue"]["name"]

    headers, body = edited_json("json", nameless)
    assert decode_request(headers, body).document == "tickets/t1"
    for header, value in (("ce-subject", "documents/tickets/t2"), ("ce-source",
                          "//firestore.googleapis.com/projects/demo-other/databases/(default)")):
        message = refused({**headers, header: value}, body)
        assert message.startswith(f"header {header} {value!r} disagrees with header ce-")
    assert "cannot be part of a document name" in refused(
        {**headers, "ce-project": "a/b", "ce-source": "//firestore.googleapis.com"}, body)


@pytest.mark.parametrize("path", ["tickets/é", "tickets/t 2 é", "tickets/a%b", "tickets/\"q\""])
def test_headers_as_servers_and_senders_spell_them_still_agree(path: str) -> None:
    """The emulator's raw UTF-8 read as latin-1, and CloudEvents' percent-encoding, are the same document."""
    ev = event(path=path)
    headers, body = encode_cloudevent(ev, form="base64")
    latin1 = path.encode("utf-8").decode("latin-1")
    percent = "".join(c if c.isascii() and c.isalnum() or c in "/-_." else
                      "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in path)
    for spelling in (latin1, percent):
        headers.update({"ce-document": spelling, "ce-subject": f"documents/{spelling}"})
        assert decode_request(headers, body) == ev


def test_the_emulators_doubled_source_prefix_agrees() -> None:
    headers, body = encode_cloudevent(event(), form="base64")
    headers["ce-source"] = "//firestore.googleapis.com/projects/projects/demo-p/databases/(default)"
    assert decode_request(headers, body).project == "demo-p"


def test_a_source_that_names_no_database_says_nothing() -> None:
    headers, body = encode_cloudevent(event(), form="protobuf")
    headers["ce-source"] = "https://example.com/some/source"
    assert decode_request(headers, body) == event()


# ---------------------------------------------------------------- bodies of the wrong shape


@pytest.mark.parametrize("value", [[], "x", 5, {"fields": []}, {"fields": {"a": []}}, {"fields": {"a": {"mapValue": []}}},
                                   {"fields": {"a": {"arrayValue": {"values": {}}}}}, {"name": 5},
                                   {"fields": {"a": {"bytesValue": 5}}}, {"fields": {"a": {"geoPointValue": []}}},
                                   {"fields": {"a": {"referenceValue": 5}}}, {"updateTime": 5}, {"updateTime": ""}])
def test_documents_of_the_wrong_shape_are_refused(value: Any) -> None:
    headers, body = edited_json("json", lambda d: d.__setitem__("value", value))
    refused(headers, body)


def test_structured_data_base64_that_is_not_a_string_is_refused() -> None:
    headers, body = encode_cloudevent(event(), form="structured")
    obj = json.loads(body)
    del obj["data"]
    obj["data_base64"] = {"not": "text"}
    assert refused(headers, json.dumps(obj).encode()) == "structured event's data_base64 is not base64"


def test_protobuf_value_of_an_unknown_type_is_refused() -> None:
    headers, body = encode_cloudevent(event({"a": 1}), form="protobuf")
    message = event_data_pb()().FromString(body)
    message.value.fields["a"].Clear()  # no type set
    assert "field a: Firestore value has no type set" in refused(headers, message.SerializeToString())
    assert decode_request(headers, base64.b64encode(body)) == event({"a": 1})
