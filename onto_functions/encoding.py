"""A `DocumentEvent` → the headers and body of a request in any wire form.

The inverse of decoding.py, for tests, benchmarks and the local host (which
sends `onto invoke` events the way the emulator would). Not on a deployed
function's path.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

from onto_functions.names import document_name, documents_root
from onto_functions.values import (
    encode_json_fields,
    fill_pb_fields,
    fill_pb_timestamp,
    format_timestamp,
)
from onto_functions.events import (
    JSON_TYPE,
    LEGACY_EVENT_TYPES,
    STRUCTURED_TYPE,
    DocumentEvent,
    Snapshot,
    event_data_pb,
)


_V2_TO_LEGACY = {v2: legacy for legacy, v2 in LEGACY_EVENT_TYPES.items()}

# ---------------------------------------------------------------- encoding


EncodeForm = Literal["protobuf", "base64", "json", "structured", "legacy"]


def encode_cloudevent(event: DocumentEvent, *, form: EncodeForm) -> tuple[dict[str, str], bytes]:
    """Headers and body of a request carrying `event`, as `decode_request` reads it.

    protobuf: what production sends; base64: what the emulator sends; json:
    binary mode with a JSON body; structured: application/cloudevents+json;
    legacy: a 1st gen background event (which cannot carry auth context).
    """
    if form in ("protobuf", "base64"):
        body = _event_data_protobuf(event)
        if form == "base64":
            body = base64.b64encode(body)
        return _binary_headers(event, "application/protobuf"), body
    if form == "json":
        return _binary_headers(event, JSON_TYPE), _dumps(_event_data_json(event))
    if form == "structured":
        return {"content-type": STRUCTURED_TYPE}, _dumps(_structured_json(event))
    if form == "legacy":
        return {"content-type": JSON_TYPE}, _dumps(_legacy_json(event))
    raise ValueError(f"unknown form {form!r}: expected protobuf, base64, json, structured or legacy")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _attributes(event: DocumentEvent) -> dict[str, str]:
    """The CloudEvent attributes Eventarc sends for a Firestore event."""
    attrs = {
        "specversion": "1.0",
        "type": event.event_type,
        "id": event.id,
        "source": f"//firestore.googleapis.com/projects/{event.project}/databases/{event.database}",
        "subject": f"documents/{event.document}",
        "time": format_timestamp(event.time),
        "project": event.project,
        "database": event.database,
        "namespace": "(default)",
        "document": event.document,
    }
    if event.auth is not None:
        attrs.update(event.auth)
    return attrs


def _binary_headers(event: DocumentEvent, content_type: str) -> dict[str, str]:
    headers = {f"ce-{k}": v for k, v in _attributes(event).items()}
    headers["content-type"] = content_type
    return headers


def _root(event: DocumentEvent) -> str:
    return documents_root(event.project, event.database)


def _event_data_protobuf(event: DocumentEvent) -> bytes:
    """A DocumentEventData as the emulator serializes it (empty update_mask included)."""
    message = event_data_pb()()
    for snapshot, field_name in ((event.after, "value"), (event.before, "old_value")):
        if snapshot is not None:
            _fill_pb_document(getattr(message, field_name), snapshot, event)
    message.update_mask.SetInParent()
    return message.SerializeToString()


def _fill_pb_document(target: Any, snapshot: Snapshot, event: DocumentEvent) -> None:
    target.name = document_name(event.project, event.database, snapshot.path)
    fill_pb_fields(target.fields, snapshot.data, _root(event))
    if snapshot.create_time is not None:
        fill_pb_timestamp(target.create_time, snapshot.create_time)
    if snapshot.update_time is not None:
        fill_pb_timestamp(target.update_time, snapshot.update_time)


def _event_data_json(event: DocumentEvent) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if event.after is not None:
        data["value"] = _json_document(event.after, event)
    if event.before is not None:
        data["oldValue"] = _json_document(event.before, event)
    data["updateMask"] = {}
    return data


def _json_document(snapshot: Snapshot, event: DocumentEvent) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": document_name(event.project, event.database, snapshot.path),
        "fields": encode_json_fields(snapshot.data, _root(event)),
    }
    if snapshot.create_time is not None:
        doc["createTime"] = format_timestamp(snapshot.create_time)
    if snapshot.update_time is not None:
        doc["updateTime"] = format_timestamp(snapshot.update_time)
    return doc


def _structured_json(event: DocumentEvent) -> dict[str, Any]:
    obj: dict[str, Any] = dict(_attributes(event))
    obj["datacontenttype"] = JSON_TYPE
    obj["data"] = _event_data_json(event)
    return obj


def _legacy_json(event: DocumentEvent) -> dict[str, Any]:
    if event.auth is not None or event.event_type not in _V2_TO_LEGACY:
        raise ValueError(
            f"event type {event.event_type!r} has no legacy form (legacy events carry no auth context)"
        )
    return {
        "data": _event_data_json(event),
        "context": {
            "eventId": event.id,
            "timestamp": format_timestamp(event.time),
            "eventType": _V2_TO_LEGACY[event.event_type],
            "resource": document_name(event.project, event.database, event.document),
        },
    }
