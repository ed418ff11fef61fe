"""Where the executor keeps its own bookkeeping, apart from user data.

Every document here lives in a top-level collection whose id starts with the
reserved prefix `_onto_`; sources and views under that prefix are refused, so
bookkeeping and user data never collide. Each document carries `expireAt`,
the field a Firestore TTL policy on these collection groups deletes by.

- `_onto_ledger/{trigger}~{event id}`: the event's effect was committed (or it
  was found superseded). Written in the same atomic commit as the handler's writes.
- `_onto_watermarks/{trigger}~{source document}`: the version (update time) of
  the newest event applied for that document, the stale-event guard of the
  *latest state* semantics.
- `_onto_failures/{trigger}~{event id}`: failed deliveries so far.
- `_onto_dead_letters/{trigger}~{event id}`: an event given up on, with why
  and the whole event, so it can be replayed. Kept until handled unless the
  trigger sets `dead_letter_ttl_days`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from .store import StoredDocument, fetch

RESERVED_PREFIX = "_onto_"
LEDGER = "_onto_ledger"
WATERMARKS = "_onto_watermarks"
FAILURES = "_onto_failures"
DEAD_LETTERS = "_onto_dead_letters"
COLLECTIONS = (LEDGER, WATERMARKS, FAILURES, DEAD_LETTERS)
EXPIRY_FIELD = "expireAt"

_MAX_ID_BYTES = 1500


def _doc_id(trigger: str, key: str) -> str:
    """A readable id; hashed only when it would pass Firestore's 1,500-byte limit."""
    doc_id = f"{trigger}~{quote(key, safe='')}"
    if len(doc_id.encode()) > _MAX_ID_BYTES:
        doc_id = f"{trigger}~sha256-{hashlib.sha256(key.encode()).hexdigest()}"
    return doc_id


def mark_path(trigger: str, event_id: str) -> str:
    return f"{LEDGER}/{_doc_id(trigger, event_id)}"


def watermark_path(trigger: str, document: str) -> str:
    return f"{WATERMARKS}/{_doc_id(trigger, document)}"


def failure_path(trigger: str, event_id: str) -> str:
    return f"{FAILURES}/{_doc_id(trigger, event_id)}"


def dead_letter_path(trigger: str, event_id: str) -> str:
    return f"{DEAD_LETTERS}/{_doc_id(trigger, event_id)}"


def expiry(now: datetime, ttl_days: int) -> datetime:
    return now + timedelta(days=ttl_days)


@dataclass(frozen=True)
class LedgerState:
    """What the ledger knows of one event of one trigger, read in one round trip."""

    mark: StoredDocument | None
    watermark: StoredDocument | None
    dead_letter: StoredDocument | None
    failure: StoredDocument | None


def read_state(client: Any, trigger: str, event_id: str, document: str) -> LedgerState:
    paths = [mark_path(trigger, event_id), watermark_path(trigger, document),
             dead_letter_path(trigger, event_id), failure_path(trigger, event_id)]
    return LedgerState(*fetch(client, paths))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def is_reserved(path: str) -> bool:
    return path.strip("/").startswith(RESERVED_PREFIX)
