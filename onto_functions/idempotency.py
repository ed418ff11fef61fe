"""Exactly-once client requests: a retry with the same idempotency key gets the first answer.

A client that lost an answer (a timeout, a dropped connection) cannot tell
whether its request applied, so it retries; with an `Idempotency-Key`
header (HTTPS) or a key field in a callable's data (`idempotencyKey` by
default) the retry is safe:

- the key is scoped by function and caller (the verified uid, or the
  empty text for anonymous callers, which no uid can be: a signed-in user
  whose uid is "anonymous" is not the anonymous callers), so two callers'
  keys never collide;
- the handler's writes and the answer (`_onto_requests/...`, ledger.py)
  commit in ONE atomic commit whose precondition is that no answer is
  stored for the key yet: of concurrent requests with one key, on any
  instances, exactly one commits, and the others find its answer when they
  read the record again (request_runner.py) and return it byte for byte;
- the record holds a hash of the request (method, path, data without the
  key), so the same key with a different request is refused (422 /
  FAILED_PRECONDITION, as Stripe does) instead of answered wrongly;
- only an applied request stores its answer: a refused one (a
  RequestError, a failure) commits nothing, so its retry runs again;
- the answer expires after the source's `idempotency_ttl_hours` (24 by
  default): `expireAt`, the field the ledger's TTL policies delete by; a
  record read after its expiry counts as absent even before TTL deletes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import ledger
from .request_errors import RequestError
from .store import fetch

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
ANONYMOUS = ""  # Firebase uids are 1 to 128 characters: no signed-in caller has this scope


def checked_key(key: Any, where: str) -> str | None:
    """A key as sent (None when there is none); RequestError(400) for one that cannot be a key."""
    if key is None:
        return None
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise RequestError("INVALID_ARGUMENT", f"{where} must be a non-empty string of at most "
                                               f"{MAX_KEY_LENGTH} characters")
    return key


def request_hash(method: str, path: str, data: Any) -> str:
    """What makes two requests the same request: method, path and data (canonical JSON)."""
    canonical = json.dumps([method, path, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredAnswer:
    """An answer found in the record of a key."""

    text: str  # the result's JSON text, as the first request answered it
    request_hash: str
    token: str  # which attempt wrote it
    update_time: datetime | None
    expired: bool


@dataclass(frozen=True)
class Scope:
    """One idempotency key of one caller of one function, and where its answer is kept."""

    function: str
    caller: str | None  # the verified uid; None for an anonymous caller
    key: str
    request_hash: str
    ttl_hours: float

    @property
    def path(self) -> str:
        return ledger.request_path(self.function, self.caller or ANONYMOUS, self.key)

    def read(self, client: Any, now: datetime) -> StoredAnswer | None:
        """The stored answer of this key, expired or not; None when there is none."""
        doc = fetch(client, [self.path])[0]
        if doc is None:
            return None
        expire_at = doc.data.get(ledger.EXPIRY_FIELD)
        return StoredAnswer(text=str(doc.data.get("answer", "null")), request_hash=str(doc.data.get("requestHash")),
                            token=str(doc.data.get("attemptToken", "")), update_time=doc.update_time,
                            expired=expire_at is not None and expire_at <= now)

    def record(self, answer_text: str, token: str, now: datetime) -> dict[str, Any]:
        """The document that stores this key's answer."""
        return {"function": self.function, "uid": self.caller, "key": self.key, "requestHash": self.request_hash,
                "answer": answer_text, "attemptToken": token, "committedAt": now,
                ledger.EXPIRY_FIELD: now + timedelta(hours=self.ttl_hours)}

    def replay(self, stored: StoredAnswer) -> str:
        """The stored answer's text for a request with this key; RequestError(422) for another request."""
        if stored.request_hash != self.request_hash:
            raise RequestError(422, f"the idempotency key {self.key!r} was used with a different request; "
                                    "send a new key for a new request", {"idempotencyKey": self.key})
        return stored.text
