"""Properties of decode_request over generated input (hypothesis; pure, no database).

1. Whatever the headers and body, decode_request returns a DocumentEvent or
   raises BadEvent: no other exception reaches the function's caller.
2. Whatever it decoded re-encodes, in every wire form it has, to a request
   that decodes to the same event.

Inputs: arbitrary bytes and headers; valid ce-* headers with arbitrary or
mutated bodies; valid bodies with arbitrary header values; and arbitrary
Firestore values, in JSON (hostile payloads in every value type) and in
protobuf (any int64 seconds, any double, unset oneofs, deep nesting), placed
in an otherwise valid event. Each property runs a bounded number of examples
so the file takes a few seconds.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from onto_functions.decoding import decode_request
from onto_functions.encoding import encode_cloudevent
from onto_functions.events import LEGACY_EVENT_TYPES, BadEvent, DocumentEvent, Snapshot, event_data_pb
from onto_functions.names import documents_root, path_problem
from onto_functions.spec import EventKind
from onto_functions.values import MAX_NESTING, DocRef, GeoPoint

UTC = timezone.utc
FORMS = ("protobuf", "base64", "json", "structured", "legacy")
ROOT = "projects/demo-p/databases/(default)/documents"
PROPERTY = settings(max_examples=int(__import__("os").environ.get("DECODE_EXAMPLES", "100")), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------- comparing events (NaN-aware)


def canonical(value: Any) -> Any:
    """A value as a comparable key: NaN equals NaN, -0.0 differs from 0.0, True from 1."""
    if isinstance(value, float):
        return ("nan",) if math.isnan(value) else ("float", struct.pack(">d", value))
    if isinstance(value, dict):
        return ("map", frozenset((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(canonical(v) for v in value))
    if isinstance(value, GeoPoint):
        return ("geo", canonical(value.latitude), canonical(value.longitude))
    return (type(value).__name__, value)


def canonical_event(event: DocumentEvent) -> tuple[Any, ...]:
    def side(snapshot: Snapshot | None) -> Any:
        if snapshot is None:
            return None
        return (snapshot.path, canonical(snapshot.data), snapshot.create_time, snapshot.update_time)

    return (event.id, event.event_type, event.kind, event.time, event.project, event.database,
            event.document, side(event.before), side(event.after), dict(event.params),
            None if event.auth is None else dict(event.auth))


def decode_or_refuse(headers: dict[str, str], body: bytes) -> DocumentEvent | None:
    """Property 1: an event or a BadEvent (anything else fails the test with its traceback)."""
    try:
        return decode_request(headers, body)
    except BadEvent as refusal:
        assert refusal.status in (400, 415)
        assert "\n" not in str(refusal)
        return None


def assert_round_trips(event: DocumentEvent) -> None:
    """Property 2: every form this event has decodes back to it."""
    for form in FORMS:
        if form == "legacy" and (event.auth is not None or event.event_type not in LEGACY_EVENT_TYPES.values()):
            continue
        again = decode_request(*encode_cloudevent(event, form=form))
        assert canonical_event(again) == canonical_event(event), form


def references(value: Any) -> list[DocRef]:
    if isinstance(value, DocRef):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [ref for item in value for ref in references(item)] if isinstance(value, list) else []


def check(headers: dict[str, str], body: bytes) -> None:
    event = decode_or_refuse(headers, body)
    if event is None:
        return
    # What decodes names only documents Firestore could hold: no second spelling of a ledger key.
    sides = [side for side in (event.before, event.after) if side is not None]
    for path in [event.document] + [ref.path for side in sides for ref in references(side.data)]:
        assert path_problem(path) is None, path
    assert_round_trips(event)


# ---------------------------------------------------------------- strategies: valid events


def valid_id(collection: bool) -> st.SearchStrategy[str]:
    text = st.text(st.characters(exclude_characters="/", exclude_categories=("Cs",)), min_size=1, max_size=12)
    numeric = st.integers(1, 2**63 - 1).map(lambda n: f"__id{n}__")
    ids = text if collection else st.one_of(text, numeric)
    return ids.filter(lambda s: path_problem(f"c/{s}" if not collection else f"{s}/d") is None)


paths = st.lists(st.tuples(valid_id(True), valid_id(False)), min_size=1, max_size=3).map(
    lambda pairs: "/".join(f"{c}/{d}" for c, d in pairs))
moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),
                       timezones=st.just(UTC))
geo_points = st.builds(GeoPoint, st.floats(-90, 90), st.floats(-180, 180))
firestore_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(), st.binary(),
              moments, paths.map(DocRef), geo_points),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
documents = st.dictionaries(st.text(max_size=8), firestore_values, max_size=4)


def nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


@st.composite
def events(draw: st.DrawFn) -> DocumentEvent:
    kind = draw(st.sampled_from([EventKind.CREATED, EventKind.UPDATED, EventKind.DELETED]))
    event_type = draw(st.sampled_from([kind.event_type, EventKind.WRITTEN.event_type]))
    auth = None
    if draw(st.booleans()):
        event_type += ".withAuthContext"
        auth = {"authtype": draw(st.sampled_from(["system", "service_account"])), "authid": draw(st.text(max_size=8))}
    path = draw(paths)
    first, second = sorted([draw(moments), draw(moments)])
    old = Snapshot(path, draw(documents), first, first)
    new = Snapshot(path, draw(documents), first if kind is EventKind.UPDATED else second, second)
    before, after = {EventKind.CREATED: (None, new), EventKind.UPDATED: (old, new),
                     EventKind.DELETED: (old, None)}[kind]
    for snapshot in (before, after):
        assume(snapshot is None or all(nesting(v) <= MAX_NESTING for v in snapshot.data.values()))
    project = draw(st.from_regex(r"demo-[a-z0-9-]{1,20}", fullmatch=True))
    database = draw(st.sampled_from(["(default)", "other-db"]))
    return DocumentEvent(id=draw(st.text(min_size=1, max_size=10)), event_type=event_type, kind=kind,
                         time=draw(moments), project=project, database=database, document=path,
                         before=before, after=after, auth=auth)


@given(events(), st.sampled_from(FORMS))
@PROPERTY
def test_valid_events_decode_to_themselves_in_every_form(event: DocumentEvent, form: str) -> None:
    if form == "legacy" and event.auth is not None:
        form = "json"
    decoded = decode_request(*encode_cloudevent(event, form=form))
    assert canonical_event(decoded) == canonical_event(event)


# ---------------------------------------------------------------- arbitrary requests


header_names = st.sampled_from(["content-type", "ce-specversion", "ce-type", "ce-id", "ce-source", "ce-time",
                                "ce-subject", "ce-document", "ce-project", "ce-database", "ce-datacontenttype",
                                "ce-authtype", "ce-authid"]) | st.text(max_size=12)
timestamp_texts = st.one_of(
    st.sampled_from(["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:01", "0001-01-01T00:00:00-00:01",
                     "9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59-00:01", "9999-12-31T23:59:59+00:01",
                     "0000-12-31T23:59:59Z"]),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-23, minutes=-59)),
                                            timezone(timedelta(hours=14))])).map(lambda d: d.isoformat()),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})?",
                  fullmatch=True),
)
names = st.one_of(paths.map(lambda p: f"{ROOT}/{p}"), st.text(max_size=30).map(lambda p: f"{ROOT}/{p}"),
                  st.text(max_size=30))

content_types = st.sampled_from(["application/protobuf", "application/json", "application/cloudevents+json",
                                 "application/x-protobuf", "text/plain", ""]) | st.text(max_size=20)


@given(st.dictionaries(header_names, st.text(max_size=40), max_size=8), content_types, st.binary(max_size=300))
@PROPERTY
def test_arbitrary_headers_and_bytes_are_an_event_or_a_bad_event(headers: dict[str, str], content_type: str,
                                                                 body: bytes) -> None:
    check({"content-type": content_type, **headers}, body)


@given(events(), st.sampled_from(["json", "structured", "legacy"]), st.sampled_from([b"[", b'{"a":', b'{"value":[']),
       st.sampled_from([100, 101, 2000, 100_000]) | st.integers(0, 3000), st.binary(max_size=20))
@PROPERTY
def test_json_bodies_nested_to_any_depth(event: DocumentEvent, form: str, opener: bytes, depth: int,
                                         tail: bytes) -> None:
    headers, _ = encode_cloudevent(event, form="structured" if form == "legacy" and event.auth else form)
    check(headers, opener * depth + tail)


@given(events(), st.sampled_from(FORMS), st.data())
@PROPERTY
def test_valid_headers_with_a_mutated_body(event: DocumentEvent, form: str, data: st.DataObject) -> None:
    if form == "legacy" and event.auth is not None:
        form = "structured"
    headers, body = encode_cloudevent(event, form=form)
    mutation = data.draw(st.sampled_from(["arbitrary", "truncate", "flip", "splice"]))
    if mutation == "arbitrary":
        body = data.draw(st.binary(max_size=400))
    elif mutation == "truncate":
        body = body[: data.draw(st.integers(0, len(body)))]
    elif body:
        at = data.draw(st.integers(0, len(body) - 1))
        if mutation == "flip":
            body = body[:at] + bytes([body[at] ^ data.draw(st.integers(1, 255))]) + body[at + 1:]
        else:
            body = body[:at] + data.draw(st.binary(min_size=1, max_size=20)) + body[at:]
    check(headers, body)


@given(events(), st.sampled_from(["protobuf", "base64", "json"]), st.data())
@PROPERTY
def test_a_valid_body_with_arbitrary_header_values(event: DocumentEvent, form: str, data: st.DataObject) -> None:
    headers, body = encode_cloudevent(event, form=form)
    for name in data.draw(st.lists(st.sampled_from(sorted(headers)), max_size=3, unique=True)):
        headers[name] = data.draw(st.text(max_size=60) | content_types | timestamp_texts)
    check(headers, body)


@given(events(), st.sampled_from(["protobuf", "json", "legacy"]), paths | st.text(max_size=30), st.data())
@PROPERTY
def test_arbitrary_document_names_and_paths(event: DocumentEvent, form: str, path: str, data: st.DataObject) -> None:
    """The body names any document and the headers agree, so that the path rules alone decide."""
    if form == "legacy" and event.auth is not None:
        form = "json"
    headers, body = encode_cloudevent(event, form=form)
    name = f"{documents_root(event.project, event.database)}/{path}"
    if form == "protobuf":
        message = event_data_pb()().FromString(body)
        for side in (message.value, message.old_value):
            if side.ByteSize():
                side.name = name
        body = message.SerializeToString()
    else:
        obj = json.loads(body)
        payload_ = obj["data"] if form == "legacy" else obj
        named = data.draw(st.booleans())  # or hand-written JSON without names: the attributes decide
        for side in ("value", "oldValue"):
            if side in payload_:
                payload_[side]["name"] = name if named else ""
        if form == "legacy":
            obj["context"]["resource"] = name
        body = json.dumps(obj).encode()
    headers.update({"ce-document": path, "ce-subject": f"documents/{path}"})
    check(headers, body)


# ---------------------------------------------------------------- arbitrary Firestore values, JSON form


json_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)

def payload(typical: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the payload's own type (so whole events decode often), sometimes any JSON."""
    return st.one_of(typical, typical, typical, json_anything)


INT64_EDGES = [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**19, -(10**19), 10**400]
integers_near_int64 = st.sampled_from(INT64_EDGES) | st.integers(-(2**63), 2**63 - 1) | st.integers()
FIRST_SECOND, LAST_SECOND = -62135596800, 253402300799  # 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z
# Edges first: hypothesis favours a one_of's first branches.
seconds_near_the_range = st.one_of(st.sampled_from([FIRST_SECOND - 1, FIRST_SECOND, LAST_SECOND, LAST_SECOND + 1]),
                                   st.integers(FIRST_SECOND - 2, LAST_SECOND + 2), st.integers(-(2**63), 2**63 - 1))
nanos_near_the_range = st.one_of(st.sampled_from([0, 999_999_999, -1, 10**9]), st.integers(0, 999_999_999),
                                 st.integers(-(2**31), 2**31 - 1))


JSON_PAYLOADS: dict[str, st.SearchStrategy[Any]] = {
    "nullValue": st.sampled_from([None, "NULL_VALUE", 0]),
    "booleanValue": st.booleans(),
    "integerValue": integers_near_int64.map(str) | integers_near_int64,
    "doubleValue": st.sampled_from([10**400, -(10**400), "NaN", "Infinity", "-Infinity"])
    | st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
    "timestampValue": timestamp_texts,
    "stringValue": st.text(),
    "bytesValue": st.binary().map(lambda b: base64.b64encode(b).decode()),
    "referenceValue": names,
    "geoPointValue": st.fixed_dictionaries({"latitude": st.sampled_from([90, -90, 90.000001, -91, 10**400])
                                            | st.floats(-100, 100) | st.integers(),
                                            "longitude": st.sampled_from([180, -180, 180.5, -10**400])
                                            | st.floats(-200, 200) | st.integers()}),
}
json_scalars = st.one_of(*(st.fixed_dictionaries({kind: payload(values)}) for kind, values in JSON_PAYLOADS.items()),
                         json_anything)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.fixed_dictionaries({"arrayValue": st.fixed_dictionaries({"values": st.lists(inner, max_size=3)})})
    | st.fixed_dictionaries({"mapValue": st.fixed_dictionaries(
        {"fields": st.dictionaries(st.text(max_size=5), inner, max_size=3)})}),
    max_leaves=8,
)


def chain(value: Any, levels: int, container: str) -> Any:
    for _ in range(levels):
        value = {"mapValue": {"fields": {"k": value}}} if container == "map" else {"arrayValue": {"values": [value]}}
    return value


BASE = DocumentEvent(id="e1", event_type=EventKind.WRITTEN.event_type, kind=EventKind.UPDATED,
                     time=datetime(2024, 5, 6, tzinfo=UTC), project="demo-p", database="(default)",
                     document="tickets/t1",
                     before=Snapshot("tickets/t1", {"n": 1}, datetime(2024, 5, 5, tzinfo=UTC),
                                     datetime(2024, 5, 5, tzinfo=UTC)),
                     after=Snapshot("tickets/t1", {"n": 2}, datetime(2024, 5, 5, tzinfo=UTC),
                                    datetime(2024, 5, 6, tzinfo=UTC)))
SCALAR = settings(PROPERTY, max_examples=max(10, PROPERTY.max_examples // 3))


@pytest.mark.parametrize("kind", sorted(JSON_PAYLOADS))
@given(data=st.data())
@SCALAR
def test_every_json_value_type_with_arbitrary_payloads(kind: str, data: st.DataObject) -> None:
    """One value of one type in an otherwise valid event: edges first, then anything of that type or any JSON."""
    form = data.draw(st.sampled_from(["json", "structured", "legacy"]))
    headers, body = encode_cloudevent(BASE, form=form)
    obj = json.loads(body)
    (obj["data"] if form != "json" else obj)["value"]["fields"]["x"] = {kind: data.draw(payload(JSON_PAYLOADS[kind]))}
    check(headers, json.dumps(obj).encode())


@given(events(), st.sampled_from(["json", "structured", "legacy"]), json_values,
       st.just(0) | st.integers(0, MAX_NESTING + 3), st.sampled_from(["map", "array"]), st.none() | timestamp_texts)
@PROPERTY
def test_arbitrary_json_firestore_values(event: DocumentEvent, form: str, value: Any, levels: int,
                                         container: str, update_time: str | None) -> None:
    if form == "legacy" and event.auth is not None:
        form = "structured"
    headers, body = encode_cloudevent(event, form=form)
    obj = json.loads(body)
    data = obj["data"] if form in ("structured", "legacy") else obj
    data["value" if event.after is not None else "oldValue"]["fields"]["hostile"] = chain(value, levels, container)
    if update_time is not None:  # on the side decoded first, lest the hostile value be refused before it
        data["oldValue" if event.before is not None else "value"]["updateTime"] = update_time
    check(headers, json.dumps(obj).encode())


# ---------------------------------------------------------------- arbitrary Firestore values, protobuf form


PB_PAYLOADS: dict[str, st.SearchStrategy[Any]] = {
    "null_value": st.just(0),
    "boolean_value": st.booleans(),
    "integer_value": st.sampled_from([2**63 - 1, -(2**63)]) | st.integers(-(2**63), 2**63 - 1),
    "double_value": st.floats(),
    "timestamp_value": st.tuples(seconds_near_the_range, nanos_near_the_range),
    "string_value": st.text(),
    "bytes_value": st.binary(),
    "reference_value": names,
    "geo_point_value": st.tuples(st.sampled_from([90.0, -90.0, 90.5, math.nan]) | st.floats(),
                                 st.sampled_from([180.0, -180.0, -180.5, math.inf]) | st.floats()),
    "unset": st.none(),
}
pb_scalars = st.one_of(*(st.tuples(st.just(kind), values) for kind, values in PB_PAYLOADS.items()))
pb_specs = st.recursive(
    pb_scalars,
    lambda inner: st.tuples(st.just("array_value"), st.lists(inner, max_size=3))
    | st.tuples(st.just("map_value"), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)


def fill(target: Any, spec: tuple[str, Any]) -> None:
    """Set a raw protobuf Value from a (kind, payload) spec, out-of-range payloads included."""
    kind, payload_ = spec
    if kind == "unset":
        return
    if kind == "timestamp_value":
        target.timestamp_value.seconds, target.timestamp_value.nanos = payload_
    elif kind == "geo_point_value":
        target.geo_point_value.latitude, target.geo_point_value.longitude = payload_
    elif kind == "array_value":
        target.array_value.SetInParent()
        for item in payload_:
            fill(target.array_value.values.add(), item)
    elif kind == "map_value":
        target.map_value.SetInParent()
        for key, item in payload_.items():
            fill(target.map_value.fields[key], item)
    else:
        setattr(target, kind, payload_)


@pytest.mark.parametrize("kind", sorted(PB_PAYLOADS))
@given(data=st.data())
@SCALAR
def test_every_protobuf_value_type_with_arbitrary_payloads(kind: str, data: st.DataObject) -> None:
    headers, body = encode_cloudevent(BASE, form="protobuf")
    message = event_data_pb()().FromString(body)
    fill(message.value.fields["x"], (kind, data.draw(PB_PAYLOADS[kind])))
    body = message.SerializeToString()
    check(headers, base64.b64encode(body) if data.draw(st.booleans()) else body)


@given(events(), pb_specs, st.just(0) | st.integers(0, MAX_NESTING + 3),
       st.sampled_from(["map_value", "array_value"]), st.booleans())
@PROPERTY
def test_arbitrary_protobuf_firestore_values(event: DocumentEvent, spec: tuple[str, Any], levels: int,
                                             container: str, as_base64: bool) -> None:
    for _ in range(levels):
        spec = (container, {"k": spec} if container == "map_value" else [spec])
    headers, body = encode_cloudevent(event, form="protobuf")
    message = event_data_pb()().FromString(body)
    fill((message.value if event.after is not None else message.old_value).fields["hostile"], spec)
    body = message.SerializeToString()
    check(headers, base64.b64encode(body) if as_base64 else body)
