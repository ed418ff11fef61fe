"""The Cloud Firestore emulator's own HTTP API: is it up, and registering function triggers.

Why a module of its own: the emulator accepts requests that break it (a
trigger body with only eventType makes every later write fail with 500
"corrupted Eventarc triggers" until it restarts), so every body is built and
validated here, in one place, before anything is sent.

HTTP here uses only urllib: tooling that must stay light imports it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

EVENT_TYPES = frozenset(
    f"google.cloud.firestore.document.v1.{kind}{suffix}"
    for kind in ("created", "updated", "deleted", "written")
    for suffix in ("", ".withAuthContext")
)
MATCH_TYPES = frozenset({"EXACT", "PATH_PATTERN"})


class EmulatorError(RuntimeError):
    """The emulator failed to start, or refused a request."""


def answers_ok(url: str) -> bool:
    """True when the emulator at `url` answers its readiness probe (GET / -> 200 "Ok")."""
    try:
        with urllib.request.urlopen(url + "/", timeout=1) as resp:
            return resp.status == 200 and resp.read().strip() == b"Ok"
    except (OSError, urllib.error.URLError):
        return False


def eventarc_trigger_body(
    event_type: str,
    document: str,
    *,
    database: str = "(default)",
    namespace: str = "(default)",
    match_type: str | None = None,
) -> dict[str, Any]:
    """Build and validate a v2 (Eventarc) trigger body.

    Validation is the point: the emulator accepts (200) a body with only
    eventType and from then on fails every write with 500 "corrupted Eventarc
    triggers", until restarted. So nothing incomplete may ever be sent.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"event_type {event_type!r} is not one of {sorted(EVENT_TYPES)}")
    for name, value in (("database", database), ("namespace", namespace)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if not isinstance(document, str) or not document or document.startswith("/") or document.endswith("/"):
        raise ValueError(f"document must be a path like 'meetings/{{meetingId}}', got {document!r}")
    segments = document.split("/")
    if any(not s for s in segments):
        raise ValueError(f"document {document!r} has an empty segment")
    is_pattern = any("{" in s or "*" in s for s in segments)
    if len(segments) % 2 and not any("**" in s for s in segments):
        raise ValueError(f"document {document!r} names a collection (odd segment count), not a document")
    if match_type is None:
        match_type = "PATH_PATTERN" if is_pattern else "EXACT"
    if match_type not in MATCH_TYPES:
        raise ValueError(f"match_type must be one of {sorted(MATCH_TYPES)}, got {match_type!r}")
    if match_type == "EXACT" and is_pattern:
        raise ValueError(f"match_type EXACT cannot be used with the pattern {document!r}")
    return {
        "eventType": event_type,
        "database": database,
        "namespace": namespace,
        "document": {"value": document, "matchType": match_type},
    }


def register_trigger(
    host: str,
    project: str,
    trigger_id: str,
    event_type: str,
    document: str,
    *,
    database: str = "(default)",
    namespace: str = "(default)",
    match_type: str | None = None,
) -> None:
    """Register (or replace: same id) a v2 trigger; the emulator then POSTs CloudEvents to its --functions_emulator.

    There is no list or delete call: triggers live until the emulator restarts.
    """
    for name, value in (("host", host), ("project", project), ("trigger_id", trigger_id)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    body = eventarc_trigger_body(
        event_type, document, database=database, namespace=namespace, match_type=match_type
    )
    path = (
        f"/emulator/v1/projects/{_q(project)}/eventarcTrigger"
        f"?eventarcTriggerId={urllib.parse.quote(trigger_id, safe='')}"
    )
    _request("POST", host, path, body)


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="()")


def _request(method: str, host: str, path: str, body: dict[str, Any] | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://{host}{path}", data=data, method=method,
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            payload = resp.read()
            if resp.status != 200:
                raise EmulatorError(f"{method} http://{host}{path} -> {resp.status}: {payload[:2000]!r}")
            return payload
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:2000]
        raise EmulatorError(f"{method} http://{host}{path} -> {err.code}: {detail}") from None
