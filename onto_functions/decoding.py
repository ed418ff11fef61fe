"""Every wire form of a Firestore event → one `DocumentEvent`, or a `BadEvent` saying why.

See events.py for the five forms. The rules here are strict on purpose: a
request that is almost right (a truncated protobuf, a missing ce-id) gets a
4xx naming the problem rather than a guess.

Every way a request can be wrong ends here as a BadEvent, and nothing else
escapes: each check sits where the wrong input is met (a timestamp outside
Firestore's range, nesting past its limits, a document path Firestore would
refuse, a body and headers that name different documents), not in a
catch-all that would hide our own bugs.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from onto_functions.bounded_json import JSONRefused, loads_object
from onto_functions.names import (
    DocumentPathError,
    check_document_path,
    check_location,
    parse_document_name,
    quoted,
)
from onto_functions.spec import EVENT_TYPE_PREFIX, EventKind
from onto_functions.values import (
    decode_json_fields,
    decode_pb_fields,
    parse_timestamp,
    timestamp_from_pb,
)
from onto_functions.events import (
    JSON_TYPE,
    LEGACY_EVENT_TYPES,
    PROTOBUF_TYPES,
    STRUCTURED_TYPE,
    WITH_AUTH_SUFFIX,
    BadEvent,
    DocumentEvent,
    Snapshot,
    event_data_pb,
)


_SUPPORTED = "application/protobuf, application/json or application/cloudevents+json"
_REQUIRED_CE_ATTRIBUTES = ("specversion", "type", "id", "source", "time")

# ---------------------------------------------------------------- decoding: entry point


def decode_request(headers: Mapping[str, str], body: bytes) -> DocumentEvent:
    """Decode one HTTP request carrying a Firestore document event (any wire form)."""
    h = {str(k).lower(): str(v) for k, v in headers.items()}
    body = bytes(body or b"")
    media = _media_type(h.get("content-type", ""))
    if any(k.startswith("ce-") for k in h):
        return _decode_binary(h, media, body)
    if media == STRUCTURED_TYPE:
        return _decode_structured(_parse_json_object(body, "structured CloudEvent"))
    if media == JSON_TYPE:
        return _decode_json_envelope(_parse_json_object(body, "JSON event"))
    if media in PROTOBUF_TYPES:
        raise BadEvent("missing CloudEvent header ce-specversion (a protobuf body needs ce-* headers)")
    raise BadEvent(_unsupported(media or h.get("content-type", "")), status=415)


def _media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


def _unsupported(media: str) -> str:
    if not media:
        return f"missing content type: expected {_SUPPORTED}"
    return f"unsupported content type {media!r}: expected {_SUPPORTED}"


# ---------------------------------------------------------------- binary mode (forms 1-3)


def _decode_binary(h: Mapping[str, str], media: str, body: bytes) -> DocumentEvent:
    attrs = {name: h[f"ce-{name}"] for name in _CE_ATTRIBUTE_NAMES if f"ce-{name}" in h}
    for name in _REQUIRED_CE_ATTRIBUTES:
        if not attrs.get(name):
            raise BadEvent(f"missing CloudEvent header ce-{name}")
    # In binary mode Content-Type is the data's type; the emulator also sends a
    # (non-standard) ce-datacontenttype header, used when Content-Type is absent.
    media = media or _media_type(attrs.get("datacontenttype", ""))
    _check_attributes(attrs)
    if media in PROTOBUF_TYPES:
        data = _EventData.from_pb(_parse_protobuf_body(body))
    elif media == JSON_TYPE:
        data = _EventData.from_json(_parse_json_object(body, "DocumentEventData"))
    else:
        raise BadEvent(_unsupported(media), status=415)
    return _build_event(attrs, data, _HEADER)


# How each form names an attribute in messages.
_HEADER = "header ce-{}"
_ATTRIBUTE = "attribute '{}'"
_CONTEXT = "context.{}"


_CE_ATTRIBUTE_NAMES = (
    "specversion", "type", "id", "source", "subject", "time", "datacontenttype",
    "project", "database", "document", "authtype", "authid",
)


def _check_attributes(attrs: Mapping[str, str]) -> None:
    if attrs["specversion"] != "1.0":
        raise BadEvent(f"unsupported CloudEvents specversion {quoted(attrs['specversion'])}: expected '1.0'")
    event_type = attrs["type"]
    if not event_type.startswith(EVENT_TYPE_PREFIX):
        raise BadEvent(
            f"event type {quoted(event_type)} is not a Firestore document event: expected "
            f"{EVENT_TYPE_PREFIX}{{created,updated,deleted,written}}[{WITH_AUTH_SUFFIX}]"
        )
    try:
        EventKind.from_event_type(event_type)
    except ValueError as exc:
        raise BadEvent(f"event type {quoted(event_type)} is not a Firestore document event: {exc}") from None


# The first byte of a raw DocumentEventData: the tag of field 1 (value), 2
# (old_value) or 3 (update_mask), all length-delimited. Firestore writes fields
# in number order and sends no unknown fields, so a real body starts with one.
_PB_FIRST_BYTES = frozenset(b"\x0a\x12\x1a")
_BASE64_TEXT = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"


def _parse_protobuf_body(body: bytes) -> Any:
    """Parse raw protobuf bytes (production) or base64 text of them (emulator).

    The rule: the FIRST BYTE decides, no trial parsing. A raw DocumentEventData
    starts with 0x0a, 0x12 or 0x1a: control characters outside the base64
    alphabet, so a raw body is never mistaken for base64, even when every
    byte of it happens to be ASCII (0x0a is '\\n'). Otherwise the whole body
    must be strict base64 (line breaks allowed), and its decoding must in turn
    start with one of those bytes; anything else is neither form. "Try raw,
    fall back to base64" would not be safe: protobuf accepts many byte strings
    as unknown fields, so base64 text can "parse" as an empty message.
    """
    if not body:
        raise BadEvent("empty body: expected a DocumentEventData protobuf")
    if body[0] in _PB_FIRST_BYTES:
        return _parse_pb(body, f"{len(body)} bytes")
    raw = _strict_b64decode(body)
    if raw is None and not body.translate(None, _BASE64_TEXT):
        raise BadEvent(
            f"body is base64 text that does not decode (truncated or corrupt, {len(body)} bytes)"
        )
    if raw is None or not raw or raw[0] not in _PB_FIRST_BYTES:
        hint = " (it looks like JSON: wrong content type?)" if body[:1] in (b"{", b"[") else ""
        raise BadEvent(
            f"body is neither a DocumentEventData protobuf nor base64 text of one "
            f"(first byte 0x{body[0]:02x}, {len(body)} bytes){hint}"
        )
    return _parse_pb(raw, f"base64 text of {len(body)} bytes, {len(raw)} bytes decoded")


def _strict_b64decode(body: bytes) -> bytes | None:
    try:
        return base64.b64decode(body.replace(b"\r", b"").replace(b"\n", b""), validate=True)
    except (binascii.Error, ValueError):
        return None


def _parse_pb(raw: bytes, described: str) -> Any:
    """Parse DocumentEventData bytes.

    Truncation inside any nested message breaks its length prefix and raises
    DecodeError here. Truncation exactly between top-level fields parses
    silently: `_derive_kind` catches what that loses (see there).
    """
    from google.protobuf.message import DecodeError  # loaded with the types anyway

    message = event_data_pb()()
    try:
        message.ParseFromString(raw)
    except DecodeError:
        raise BadEvent(
            f"body is not a DocumentEventData protobuf (truncated or corrupt, {described})"
        ) from None
    return message


# ---------------------------------------------------------------- JSON envelopes (forms 3-5)


def _parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        return loads_object(body, what)
    except JSONRefused as exc:
        raise BadEvent(str(exc)) from None


def _decode_json_envelope(obj: dict[str, Any]) -> DocumentEvent:
    """application/json without ce-* headers: structured CloudEvent or legacy event."""
    if "specversion" in obj:
        return _decode_structured(obj)
    if "data" in obj and ("context" in obj or "eventType" in obj):
        return _decode_legacy(obj)
    raise BadEvent(
        "JSON body without ce-* headers is neither a structured CloudEvent (no 'specversion') "
        "nor a legacy background event (no 'data' with 'context' or 'eventType')"
    )


def _decode_structured(obj: Mapping[str, Any]) -> DocumentEvent:
    """Form 4: attributes and data in one JSON object."""
    attrs = {name: str(obj[name]) for name in _CE_ATTRIBUTE_NAMES if obj.get(name) is not None}
    for name in _REQUIRED_CE_ATTRIBUTES:
        if not attrs.get(name):
            raise BadEvent(f"missing CloudEvent attribute {name!r} in the structured event")
    _check_attributes(attrs)
    data = _structured_data(obj, _media_type(attrs.get("datacontenttype", "")))
    return _build_event(attrs, data, _ATTRIBUTE)


def _structured_data(obj: Mapping[str, Any], media: str) -> "_EventData":
    if "data_base64" in obj:
        text = obj["data_base64"]
        raw = _strict_b64decode(text.encode("ascii", "replace")) if isinstance(text, str) else None
        if raw is None:
            raise BadEvent("structured event's data_base64 is not base64")
        return _EventData.from_pb(_parse_protobuf_body(raw))
    data = obj.get("data")
    if isinstance(data, Mapping):
        return _EventData.from_json(data)
    if isinstance(data, str) and media in PROTOBUF_TYPES:
        # Protobuf data carried as a base64 string in `data` rather than `data_base64`.
        return _EventData.from_pb(_parse_protobuf_body(data.encode("ascii", "replace")))
    if data is None:
        raise BadEvent("structured event has neither 'data' nor 'data_base64'")
    raise BadEvent(
        f"structured event's 'data' is a JSON {type(data).__name__}: expected a "
        "DocumentEventData object (or data_base64 for protobuf)"
    )


def _decode_legacy(obj: Mapping[str, Any]) -> DocumentEvent:
    """Form 5: a 1st gen background event, mapped onto the v2 attributes."""
    context = obj.get("context") if isinstance(obj.get("context"), Mapping) else obj
    event_id = context.get("eventId")
    legacy_type = context.get("eventType")
    timestamp = context.get("timestamp")
    resource = context.get("resource")
    if isinstance(resource, Mapping):  # the emulator sends {"name": ..., "service": ...}
        resource = resource.get("name")
    for key, value in (("eventId", event_id), ("eventType", legacy_type), ("timestamp", timestamp)):
        if not value:
            raise BadEvent(f"legacy event is missing context.{key}")
    event_type = LEGACY_EVENT_TYPES.get(legacy_type) if isinstance(legacy_type, str) else None
    if event_type is None:
        raise BadEvent(
            f"event type {quoted(legacy_type)} is not a Firestore document event: expected one of "
            + ", ".join(LEGACY_EVENT_TYPES)
        )
    attrs = {"id": str(event_id), "type": event_type, "time": str(timestamp)}
    if resource:
        attrs["resource"] = str(resource)
    data = obj.get("data")
    if not isinstance(data, Mapping):
        raise BadEvent("legacy event's 'data' is not an object")
    return _build_event(attrs, _EventData.from_json(data), _CONTEXT)


# ---------------------------------------------------------------- DocumentEventData, either form


# The two internal classes below are plain slotted classes, not dataclasses:
# each @dataclass costs about 1.3 ms of import time on the cold-start path.


class _Side:
    """One decoded document of the payload, with the name it came with."""

    __slots__ = ("name", "snapshot_data", "create_time", "update_time")

    def __init__(
        self,
        name: str,  # full resource name, may be "" in hand-written JSON
        snapshot_data: dict[str, Any],
        create_time: datetime | None,
        update_time: datetime | None,
    ) -> None:
        self.name = name
        self.snapshot_data = snapshot_data
        self.create_time = create_time
        self.update_time = update_time


class _EventData:
    """The payload's two sides, before checking them against the attributes."""

    __slots__ = ("before", "after", "size")

    def __init__(self, before: _Side | None, after: _Side | None, size: str) -> None:
        self.before = before  # old_value
        self.after = after  # value
        self.size = size  # what the body was, for messages

    @classmethod
    def from_pb(cls, message: Any) -> "_EventData":
        return cls(
            before=_pb_side(message, "old_value"),
            after=_pb_side(message, "value"),
            size=f"{message.ByteSize()} bytes of protobuf",
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "_EventData":
        return cls(
            before=_json_side(data, "oldValue", "old_value"),
            after=_json_side(data, "value", "value"),
            size="JSON",
        )


def _pb_side(message: Any, field_name: str) -> _Side | None:
    # An empty document counts as absent, as `oldValue: {}` does in legacy JSON.
    if not message.HasField(field_name):
        return None
    doc = getattr(message, field_name)
    if doc.ByteSize() == 0:
        return None
    try:
        return _Side(
            name=doc.name,
            snapshot_data=decode_pb_fields(doc.fields),
            create_time=_pb_time(doc, "create_time", "createTime"),
            update_time=_pb_time(doc, "update_time", "updateTime"),
        )
    except ValueError as exc:
        raise BadEvent(f"{_SIDE_LABEL[field_name]} is not a Firestore document: {exc}") from None


def _pb_time(doc: Any, field_name: str, shown: str) -> datetime | None:
    if not doc.HasField(field_name):
        return None
    try:
        return timestamp_from_pb(getattr(doc, field_name))
    except ValueError as exc:
        raise ValueError(f"{shown}: {exc}") from None


def _json_side(data: Mapping[str, Any], camel: str, snake: str) -> _Side | None:
    doc = data.get(camel, data.get(snake))
    if doc is None or (isinstance(doc, Mapping) and not doc):
        return None
    label = _SIDE_LABEL[snake]
    if not isinstance(doc, Mapping):
        raise BadEvent(f"{label} is a JSON {type(doc).__name__}, expected an object")
    try:
        return _Side(
            name=_json_name(doc),
            snapshot_data=decode_json_fields(doc.get("fields")),
            create_time=_json_time(doc, "createTime", "create_time"),
            update_time=_json_time(doc, "updateTime", "update_time"),
        )
    except ValueError as exc:
        raise BadEvent(f"{label} is not a Firestore document: {exc}") from None


def _json_name(doc: Mapping[str, Any]) -> str:
    name = doc.get("name")
    if name is None:
        return ""
    if not isinstance(name, str):
        raise ValueError(f"its name {quoted(name)} is not a string")
    return name


def _json_time(doc: Mapping[str, Any], camel: str, snake: str) -> datetime | None:
    text = doc.get(camel, doc.get(snake))
    try:
        return None if text is None else parse_timestamp(text)
    except ValueError as exc:
        raise ValueError(f"{camel}: {exc}") from None


_SIDE_LABEL = {"value": "value (after)", "old_value": "old_value (before)"}


# ---------------------------------------------------------------- assembling the event


def _build_event(attrs: Mapping[str, str], data: _EventData, label: str) -> DocumentEvent:
    """Combine CloudEvent attributes and payload, checking they make one event.

    `label` says how this form names an attribute in messages ("header ce-{}").
    """
    event_type = attrs["type"]
    kind = _derive_kind(event_type, data)
    project, database, document = _locate(attrs, data, label)
    return DocumentEvent(
        id=attrs["id"],
        event_type=event_type,
        kind=kind,
        time=_attribute_time(attrs["time"]),
        project=project,
        database=database,
        document=document,
        before=_snapshot(data.before, document),
        after=_snapshot(data.after, document),
        auth=_auth(attrs) if event_type.endswith(WITH_AUTH_SUFFIX) else None,
    )


def _attribute_time(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise BadEvent(f"event time: {exc}") from None


def _derive_kind(event_type: str, data: _EventData) -> EventKind:
    """CREATED/UPDATED/DELETED from which sides are present, checked against the type.

    This is also where a silently truncated protobuf is caught. Truncation
    inside a nested message is a DecodeError; truncation between top-level
    fields is not, and can lose old_value (field 2) after a complete value
    (field 1): an update would then look like a create. A real create has
    createTime == updateTime (the write that creates a document sets both), so a
    "create" whose document was created earlier than it was updated is refused.
    """
    before, after = data.before, data.after
    if before is None and after is None:
        raise BadEvent(
            f"body has neither value (after) nor old_value (before) ({data.size}): "
            "empty, truncated or not a DocumentEventData"
        )
    for side, label in ((before, "old_value (before)"), (after, "value (after)")):
        if side is not None and side.update_time is None:
            raise BadEvent(f"{label} has no updateTime ({data.size}): truncated or not from Firestore")
    if before is not None and after is not None:
        kind = EventKind.UPDATED
    else:
        kind = EventKind.CREATED if after is not None else EventKind.DELETED
    if kind is EventKind.CREATED and after.create_time not in (None, after.update_time):
        raise BadEvent(
            f"body has value (after) but no old_value (before), yet the document was created at "
            f"{after.create_time} and updated at {after.update_time}: old_value was lost "
            "(truncated body?)"
        )
    expected = EventKind.from_event_type(event_type)
    if not expected.fires_for(kind):
        raise BadEvent(
            f"event type {event_type!r} does not match its body: the body has "
            f"{_present(before, after)}, i.e. the document was {kind.value}"
        )
    return kind


def _present(before: _Side | None, after: _Side | None) -> str:
    parts = [p for p, side in (("old_value", before), ("value", after)) if side is not None]
    return "only " + parts[0] if len(parts) == 1 else "value and old_value"


# ---------------------------------------------------------------- where: one document, said consistently


_PARTS = ("project", "database", "document")
_Claim = tuple[str, int, str]  # (the attribute saying it, index into _PARTS, what it says)


def _locate(attrs: Mapping[str, str], data: _EventData, label: str) -> tuple[str, str, str]:
    """(project, database, document) of the event, every statement of it agreeing.

    An event can say where it happened several times: the body's document
    names; ce-project, ce-database and ce-document; ce-source (project and
    database); ce-subject (`documents/{path}`); a legacy context.resource. Any
    two that disagree get the event refused, naming both: nothing downstream
    should have to choose.

    The body's name is the one used: it is UTF-8 protobuf or JSON, while
    headers are not reliably decoded (the emulator sends a document id "é" as
    raw UTF-8 header bytes, which Python HTTP servers read as latin-1 "Ã©";
    CloudEvents' HTTP binding percent-encodes it). So attributes are compared
    under each of those readings (see _readings). Attributes alone decide for
    hand-written JSON without names, and must then agree among themselves.
    """
    names = {side.name for side in (data.before, data.after) if side is not None and side.name}
    if len(names) > 1:
        raise BadEvent(f"value and old_value name different documents: {quoted(sorted(names))}")
    claims = _claims(attrs, label)
    if not names:
        return _located_by_attributes(claims, attrs, label)
    name = names.pop()
    located = _split_document_name(name, "the body's document name")
    for attribute, index, claimed in claims:
        if not _agrees(claimed, located[index]):
            shown = _shown(attrs, attribute, label)
            raise BadEvent(f"{shown} disagrees with the body's document name {quoted(name)}")
    return located


def _claims(attrs: Mapping[str, str], label: str) -> list[_Claim]:
    """Every statement the attributes make about the event's project, database and document."""
    claims = [(part, i, attrs[part]) for i, part in enumerate(_PARTS) if attrs.get(part)]
    location = _source_location(attrs.get("source", ""))
    if location is not None:
        claims += [("source", 0, location[0]), ("source", 1, location[1])]
    subject = attrs.get("subject", "")
    if subject.startswith("documents/"):
        claims.append(("subject", 2, subject[len("documents/"):]))
    if attrs.get("resource"):  # legacy
        parts = _split_document_name(attrs["resource"], label.format("resource"))
        claims += [("resource", i, part) for i, part in enumerate(parts)]
    return claims


def _shown(attrs: Mapping[str, str], attribute: str, label: str) -> str:
    """An attribute as a message names it: `header ce-source '//firestore...'`."""
    return f"{label.format(attribute)} {quoted(attrs[attribute])}"


def _located_by_attributes(claims: list[_Claim], attrs: Mapping[str, str], label: str) -> tuple[str, str, str]:
    """Without a name in the body: the first claim of each part, all others agreeing with it."""
    first: dict[int, tuple[str, str]] = {}
    for attribute, index, claimed in claims:
        if index not in first:
            first[index] = (attribute, claimed)
        elif not _agrees(claimed, first[index][1]):
            mine, theirs = _shown(attrs, attribute, label), _shown(attrs, first[index][0], label)
            raise BadEvent(f"{mine} disagrees with {theirs}")
    if len(first) < len(_PARTS):
        raise BadEvent(
            "cannot tell which document the event is about: no document name in the body, "
            "and no ce-document/ce-subject with ce-project/ce-database or ce-source"
        )
    (_, project), (_, database), (attribute, document) = first[0], first[1], first[2]
    try:
        check_location(project, database)
        check_document_path(document)
    except DocumentPathError as exc:
        raise BadEvent(f"{exc} (from {label.format(attribute)})") from None
    return project, database, document


def _agrees(claimed: str, actual: str) -> bool:
    return claimed == actual or not _readings(claimed).isdisjoint(_readings(actual))


_PERCENT_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")


def _readings(text: str) -> set[str]:
    """What an attribute may have meant: as received; as UTF-8 bytes a server
    read as latin-1 (the emulator's headers); percent-decoded (CloudEvents'
    HTTP binding encodes non-ASCII, space, '"' and '%' in ce-* headers)."""
    readings = {text}
    try:
        readings.add(text.encode("latin-1").decode("utf-8"))
    except UnicodeError:
        pass
    for reading in [r for r in readings if "%" in r]:
        raw = _PERCENT_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), reading.encode("utf-8", "surrogatepass"))
        readings.add(raw.decode("utf-8", "replace"))
    return readings


def _split_document_name(name: str, where: str) -> tuple[str, str, str]:
    """`projects/p/databases/d/documents/a/b` -> ("p", "d", "a/b"), or a BadEvent naming `where`."""
    try:
        return parse_document_name(name)
    except DocumentPathError as exc:
        raise BadEvent(f"{exc} ({where})") from None


def _source_location(source: str) -> tuple[str, str] | None:
    """(project, database) from ce-source `//firestore.googleapis.com/projects/p/databases/d`.

    Read from the end: the emulator doubles the prefix (`projects/projects/p`),
    and a project may be called "databases". None when the source names no
    database (CloudEvents allows any URI there).
    """
    parts = source.split("/")
    if len(parts) >= 4 and parts[-4] == "projects" and parts[-2] == "databases" and parts[-3] and parts[-1]:
        return parts[-3], parts[-1]
    return None


def _snapshot(side: _Side | None, document: str) -> Snapshot | None:
    if side is None:
        return None
    return Snapshot(path=document, data=side.snapshot_data, create_time=side.create_time, update_time=side.update_time)


def _auth(attrs: Mapping[str, str]) -> dict[str, str]:
    """The principal of a .withAuthContext event; "unknown" when not sent."""
    return {"authtype": attrs.get("authtype") or "unknown", "authid": attrs.get("authid", "")}
