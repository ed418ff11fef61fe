"""Dead letters and failing events: list them, replay them through the executor, or discard them.

A dead letter keeps the request that brought its event (see failures.py),
so a replay decodes it as the deployed function did and runs the trigger's
own executor. The ledger makes a replay safe to repeat: a replay of an event
that was applied meanwhile (or by an earlier replay) is a duplicate, and a
replay after the handler's bug is fixed applies it once. A discard marks the
event in the ledger ("discarded") before removing the letter, so a late
redelivery of the same event is a duplicate too, never a surprise apply.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable

from .. import ledger
from ..decoding import decode_request
from ..events import BadEvent, DocumentEvent
from ..executor import Executor
from ..outcome import Outcome
from ..store import StoredDocument, fetch
from ..unit_of_work import CommitRejected, CommitUncertain, UnitOfWork, Write


class ReplayError(RuntimeError):
    """A dead letter that cannot be replayed (its request is cut, undecodable, or another project's)."""


@dataclass(frozen=True)
class DeadLetter:
    path: str
    trigger: str
    event_id: str
    document: str
    error: str
    failed_deliveries: int
    dead_lettered_at: datetime | None
    refused: bool
    request: dict[str, Any]

    @property
    def id(self) -> str:
        """What `onto failures show/replay/discard` take: the letter's document id."""
        return self.path.rsplit("/", 1)[-1]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "trigger": self.trigger, "eventId": self.event_id, "document": self.document,
                "error": self.error, "failedDeliveries": self.failed_deliveries, "refused": self.refused,
                "deadLetteredAt": self.dead_lettered_at.isoformat() if self.dead_lettered_at else None}


@dataclass(frozen=True)
class FailingEvent:
    """An event whose deliveries failed and that is not applied nor dead-lettered yet."""

    trigger: str
    event_id: str
    document: str
    deliveries: int
    last_error: str
    last_failed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "eventId": self.event_id, "document": self.document,
                "deliveries": self.deliveries, "lastError": self.last_error,
                "lastFailedAt": self.last_failed_at.isoformat() if self.last_failed_at else None}


def dead_letters(client: Any, trigger: str | None = None) -> list[DeadLetter]:
    """Every dead letter (of one trigger, if named), oldest first."""
    letters = [_letter(doc) for doc in _collection(client, ledger.DEAD_LETTERS, trigger)]
    return sorted(letters, key=lambda d: (d.dead_lettered_at is None, d.dead_lettered_at or 0, d.id))


def dead_letter(client: Any, letter_id: str) -> DeadLetter:
    """A dead letter by id, or one replayed already (kept in `_onto_replayed` for the ledger's TTL)."""
    for collection in (ledger.DEAD_LETTERS, ledger.REPLAYED):
        snap = client.collection(collection).document(letter_id).get()
        if snap.exists:
            return _letter(StoredDocument(f"{collection}/{letter_id}", snap.to_dict() or {},
                                          snap.update_time, snap.create_time))
    raise ReplayError(f"no dead letter {letter_id!r} in {ledger.DEAD_LETTERS} or {ledger.REPLAYED}")


def failing_events(client: Any, trigger: str | None = None) -> list[FailingEvent]:
    """Counted failures of events that were neither applied since nor dead-lettered."""
    failures = list(_collection(client, ledger.FAILURES, trigger))
    settled = _existing(client, [p for doc in failures for p in _settled_paths(doc)])
    found = []
    for doc in failures:
        if any(p in settled for p in _settled_paths(doc)):
            continue
        data = doc.data
        found.append(FailingEvent(str(data.get("trigger", "")), str(data.get("eventId", "")),
                                  str(data.get("document", "")), int(data.get("deliveries", 0)),
                                  str(data.get("lastError", "")), data.get("lastFailedAt")))
    return found


def replay(client: Any, executor: Executor, letter: DeadLetter) -> Outcome:
    """Run the letter's event again through `executor` (see offline.py).

    The letter moves to `_onto_replayed` first (the executor stops at a dead
    letter), with its failure count cleared; if the event fails again, the
    executor writes a new dead letter."""
    event = replace(_event(letter), time=executor.clock())  # replayed now: past any age limit it had
    if event.project != client.project or event.database != _database(client):
        raise ReplayError(f"{letter.id}: the event is for project {event.project!r}, database "
                          f"{event.database!r}, not {client.project!r}")
    record = client.document(f"{ledger.REPLAYED}/{letter.id}")
    batch = client.batch()
    batch.set(record, {**_stored_fields(letter), "replayedAt": ledger.utcnow(),
                       ledger.EXPIRY_FIELD: ledger.expiry(ledger.utcnow(), executor.spec.options.ledger_ttl_days)})
    for path in {letter.path, ledger.failure_path(letter.trigger, ledger.event_key(event))} - {record.path}:
        batch.delete(client.document(path))
    batch.commit()
    outcome = executor.process(event)
    record.update({"outcome": outcome.status, "detail": outcome.detail})
    return outcome


def discard(client: Any, letter: DeadLetter, reason: str) -> None:
    """Give the event up for good: marked "discarded" in the ledger, then the letter removed."""
    if not letter.refused:
        event = _event(letter)
        mark = {"trigger": letter.trigger, "eventId": event.id, "document": event.document,
                "outcome": "discarded", "reason": reason, "committedAt": ledger.utcnow()}
        try:
            UnitOfWork(client).commit([(Write("create", ledger.mark_path(letter.trigger, ledger.event_key(event)),
                                              mark), True)])
        except (CommitRejected, CommitUncertain):
            if fetch(client, [ledger.mark_path(letter.trigger, ledger.event_key(event))])[0] is None:
                raise ReplayError(f"{letter.id}: could not mark the event discarded; try again") from None
    _delete(client, [letter.path])


def _stored_fields(letter: DeadLetter) -> dict[str, Any]:
    return {"trigger": letter.trigger, "eventId": letter.event_id, "document": letter.document,
            "error": letter.error, "failedDeliveries": letter.failed_deliveries, "refused": letter.refused,
            "deadLetteredAt": letter.dead_lettered_at, "request": letter.request}


def request_of(letter: DeadLetter) -> tuple[dict[str, str], bytes]:
    request = letter.request or {}
    if request.get("truncated"):
        raise ReplayError(f"{letter.id}: the request was {request.get('bodyBytes')} bytes, too large to keep whole")
    body = str(request.get("body", ""))
    raw = base64.b64decode(body) if request.get("bodyEncoding") == "base64" else body.encode("utf-8")
    return {str(k): str(v) for k, v in dict(request.get("headers") or {}).items()}, raw


def _event(letter: DeadLetter) -> DocumentEvent:
    try:
        return decode_request(*request_of(letter))
    except BadEvent as exc:
        raise ReplayError(f"{letter.id}: the request still does not decode: {exc}") from None


def _letter(doc: StoredDocument) -> DeadLetter:
    data = doc.data
    return DeadLetter(
        path=doc.path, trigger=str(data.get("trigger", "")), event_id=str(data.get("eventId", "")),
        document=str(data.get("document", "")), error=str(data.get("error", "")),
        failed_deliveries=int(data.get("failedDeliveries", 0)), dead_lettered_at=data.get("deadLetteredAt"),
        refused=bool(data.get("refused", False)), request=dict(data.get("request") or {}),
    )


def _collection(client: Any, collection: str, trigger: str | None) -> Iterable[StoredDocument]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query: Any = client.collection(collection)
    if trigger:
        query = query.where(filter=FieldFilter("trigger", "==", trigger))
    for snap in query.stream():
        yield StoredDocument(f"{collection}/{snap.id}", snap.to_dict() or {}, snap.update_time, snap.create_time)


def _settled_paths(failure: StoredDocument) -> list[str]:
    """Where a failure's event would be marked or dead-lettered: the same id in those collections."""
    doc_id = failure.path.rsplit("/", 1)[-1]
    return [f"{ledger.LEDGER}/{doc_id}", f"{ledger.DEAD_LETTERS}/{doc_id}"]


def _existing(client: Any, paths: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(paths), 300):
        chunk = paths[start:start + 300]
        found.update(p for p, doc in zip(chunk, fetch(client, chunk)) if doc is not None)
    return found


def _delete(client: Any, paths: list[str]) -> None:
    batch = client.batch()
    for path in paths:
        batch.delete(client.document(path))
    batch.commit()


def _database(client: Any) -> str:
    return getattr(client, "_database", None) or "(default)"
