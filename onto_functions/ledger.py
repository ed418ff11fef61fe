"""Where the executor keeps its own bookkeeping, apart from user data.

Every document here lives in a top-level collection whose id starts with the
reserved prefix `_onto_`; sources and views under that prefix are refused, so
bookkeeping and user data never collide. Each document carries `expireAt`,
the field a Firestore TTL policy on these collection groups deletes by.

- `_onto_ledger/{trigger}~{event key}`: the event's effect was committed (or it
  was found superseded). Written in the same atomic commit as the handler's writes.
- `_onto_watermarks/{trigger}~{source document}`: the version (update time) of
  the newest event applied for that document, the stale-event guard of the
  *latest state* semantics.
- `_onto_failures/{trigger}~{event key}`: failed deliveries so far.
- `_onto_dead_letters/{trigger}~{event key}`: an event given up on, with why
  and the whole event, so it can be replayed. Kept until handled unless the
  trigger sets `dead_letter_ttl_days`.
- `_onto_replayed/{same id}`: a dead letter that `onto failures replay` ran
  again, with the outcome; kept for the ledger's TTL, so that it can be
  replayed once more (a duplicate then) and audited.
- `_onto_requests/{function}~{caller uid}~{idempotency key}`: the stored answer
  of an exactly-once client request (idempotency.py), written in the same
  atomic commit as the handler's writes; it expires after the source's
  `idempotency_ttl_hours`.

An event is keyed by the document state it reports, not by its delivery id
(see `event_key`): every redelivery of an event has the same key, and so
does a synthetic event for the same state (a backfill, a replay), so the
ledger applies each state of each document once whichever path brought it.
A Pub/Sub message is keyed by its topic and message id, a schedule's tick by
its scheduled time: what every redelivery of them repeats.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Union
from urllib.parse import quote

from .events import DocumentEvent
from .names import MAX_ID_BYTES
from .store import StoredDocument, fetch
from .stream_events import MessageEvent, TickEvent

AnyEvent = Union[DocumentEvent, MessageEvent, TickEvent]

LEDGER = "_onto_ledger"
WATERMARKS = "_onto_watermarks"
FAILURES = "_onto_failures"
DEAD_LETTERS = "_onto_dead_letters"
REPLAYED = "_onto_replayed"
REQUESTS = "_onto_requests"
COLLECTIONS = (LEDGER, WATERMARKS, FAILURES, DEAD_LETTERS, REPLAYED, REQUESTS)
EXPIRY_FIELD = "expireAt"


def _doc_id(trigger: str, key: str) -> str:
    """A readable id; hashed only when it would pass Firestore's 1,500-byte limit."""
    doc_id = f"{trigger}~{quote(key, safe='')}"
    if len(doc_id.encode()) > MAX_ID_BYTES:
        doc_id = f"{trigger}~sha256-{hashlib.sha256(key.encode()).hexdigest()}"
    return doc_id


def event_key(event: AnyEvent) -> str:
    """The document state an event reports: `path@<new update time>`, or for a delete
    `path@deleted:<update time of the version deleted>`; `pubsub:<topic>@<message id>`
    for a message, `schedule@<scheduled time>` for a tick.

    Unique per event: writes to one document get distinct update times, and a
    delete removes one version. (A delete's event time cannot serve: it may be
    truncated to whole seconds.)
    """
    if isinstance(event, MessageEvent):
        return f"pubsub:{event.topic}@{event.id}"
    if isinstance(event, TickEvent):
        return f"schedule@{_stamp(event.scheduled_time)}"
    if event.after is not None and event.after.update_time is not None:
        return f"{event.document}@{_stamp(event.after.update_time)}"
    if event.before is not None and event.before.update_time is not None:
        return f"{event.document}@deleted:{_stamp(event.before.update_time)}"
    return f"{event.document}@event:{event.id}"  # no versions at all: only the id is left


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def mark_path(trigger: str, key: str) -> str:
    return f"{LEDGER}/{_doc_id(trigger, key)}"


def watermark_path(trigger: str, document: str) -> str:
    return f"{WATERMARKS}/{_doc_id(trigger, document)}"


def failure_path(trigger: str, key: str) -> str:
    return f"{FAILURES}/{_doc_id(trigger, key)}"


def dead_letter_path(trigger: str, key: str) -> str:
    return f"{DEAD_LETTERS}/{_doc_id(trigger, key)}"


def request_path(function: str, caller: str, key: str) -> str:
    """Where the answer of a request with idempotency `key` from `caller` (a uid) is stored."""
    scope = quote(caller, safe="").replace("~", "%7E")  # no "~" in it: the caller and the key cannot run together
    return f"{REQUESTS}/{_doc_id(function, f'{scope}~{key}')}"


def expiry(now: datetime, ttl_days: int) -> datetime:
    return now + timedelta(days=ttl_days)


@dataclass(frozen=True)
class LedgerState:
    """What the ledger knows of one event of one trigger, read in one round trip."""

    mark: StoredDocument | None
    watermark: StoredDocument | None
    dead_letter: StoredDocument | None
    failure: StoredDocument | None


def read_state(client: Any, trigger: str, event: AnyEvent) -> LedgerState:
    key = event_key(event)
    if not isinstance(event, DocumentEvent):  # no document versions: no watermark to read
        mark, dead_letter, failure = fetch(client, [mark_path(trigger, key), dead_letter_path(trigger, key),
                                                     failure_path(trigger, key)])
        return LedgerState(mark, None, dead_letter, failure)
    paths = [mark_path(trigger, key), watermark_path(trigger, event.document),
             dead_letter_path(trigger, key), failure_path(trigger, key)]
    return LedgerState(*fetch(client, paths))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)

