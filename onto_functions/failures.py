"""Failed deliveries, counted once each, and dead letters that keep the whole event.

Why counting needs care: the count decides when an event is given up on
(`max_deliveries`), and a write whose answer was lost (a deadline) may or
may not have landed. An `Increment` retried after such a loss counts one
failure twice. So each delivery writes the count it read plus one, under a
precondition that the document is still as read, with a token of its own;
when the write's fate is unknown, reading the token back tells.

A dead letter keeps the event as a structured CloudEvent (`request`), so
that it can be replayed through the same decoder and executor, and it has no
expiry unless the trigger sets `dead_letter_ttl_days`: an event nobody
handled must not disappear with the ledger's TTL.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Callable, Mapping

from . import ledger
from .events import DocumentEvent
from .ledger import AnyEvent
from .spec import TriggerSpec
from .store import Store, StoredDocument, fetch
from .unit_of_work import CommitRejected, CommitUncertain, UnitOfWork, Write

# The headers that say what a refused request was (CloudEvent attributes, Cloud Scheduler's): kept in its dead
# letter, and what tells one refused request from another (its dead letter's key).
KEPT_HEADER_PREFIXES = ("ce-", "x-cloudscheduler-")

_MAX_REQUEST_BYTES = 512 * 1024  # a dead letter must fit a 1 MiB document
# Refused requests are mostly junk (or a stranger's), so unlike an event's dead letter they
# expire, unless the trigger sets dead_letter_ttl_days: a month to notice and replay them.
REFUSED_TTL_DAYS = 30


class FailureBook:
    """Failure counts and dead letters of one trigger."""

    def __init__(self, spec: TriggerSpec, clock: Callable[[], datetime]) -> None:
        self.spec = spec
        self.clock = clock

    def count(self, client: Any, event: AnyEvent, error: str, seen: StoredDocument | None) -> int:
        """Record one failed delivery; returns the number of failed deliveries so far."""
        path = ledger.failure_path(self.spec.name, ledger.event_key(event))
        token = uuid.uuid4().hex
        for _ in range(10):
            deliveries = int(seen.data.get("deliveries", 0)) + 1 if seen else 1
            now = self.clock()
            data = {
                "trigger": self.spec.name, "eventId": event.id, "document": event.subject,
                "deliveries": deliveries, "lastError": error, "lastFailedAt": now, "lastDelivery": token,
                ledger.EXPIRY_FIELD: ledger.expiry(now, self.spec.options.ledger_ttl_days),
            }
            try:
                UnitOfWork(client).commit([(Write("set", path, data), seen.update_time if seen else None)])
                return deliveries
            except (CommitRejected, CommitUncertain):
                seen = fetch(client, [path])[0]
                if seen is not None and seen.data.get("lastDelivery") == token:
                    return int(seen.data["deliveries"])  # ours landed after all
        raise RuntimeError(f"could not count a failed delivery of event {event.id}: the count kept changing")

    def dead_letter(self, client: Any, event: AnyEvent, reason: str, *, failed_deliveries: int,
                    unless_applied: bool) -> bool:
        """Write the event's dead letter; with `unless_applied`, only while the ledger has no
        mark for it (checked by the commit itself). False: it was applied meanwhile."""
        from .encoding import encode_cloudevent
        from .stream_encoding import encode_stream_event

        if isinstance(event, DocumentEvent):
            headers, body = encode_cloudevent(event, form="structured")
        else:
            headers, body = encode_stream_event(event)
        key = ledger.event_key(event)
        data = self._letter(reason, {
            "eventId": event.id,
            "eventType": event.event_type,
            "eventTime": event.time,
            "document": event.subject,
            "failedDeliveries": failed_deliveries,
            **_request(headers, body),
        }, self.spec.options.dead_letter_ttl_days)
        guards = [(Write("delete", ledger.mark_path(self.spec.name, key)), None)] if unless_applied else []
        try:
            UnitOfWork(client).commit([(Write("set", ledger.dead_letter_path(self.spec.name, key), data), True),
                                       *guards])
        except CommitRejected:
            return False
        return True

    def refuse(self, client: Any, key: str, headers: Mapping[str, str], body: bytes, reason: str) -> None:
        """Record a request that can never be an event of this function (see entrypoint.py)."""
        kept = {k.lower(): v for k, v in headers.items()
                if k.lower().startswith(KEPT_HEADER_PREFIXES) or k.lower() == "content-type"}
        data = self._letter(reason, {"eventId": kept.get("ce-id", ""), "refused": True, **_request(kept, body)},
                            self.spec.options.dead_letter_ttl_days or REFUSED_TTL_DAYS)
        Store(client).write(ledger.dead_letter_path(self.spec.name, f"request-{key}"), data)

    def _letter(self, reason: str, fields: dict[str, Any], ttl_days: int | None) -> dict[str, Any]:
        now = self.clock()
        data = {"trigger": self.spec.name, "error": reason, "deadLetteredAt": now, **fields}
        if ttl_days is not None:
            data[ledger.EXPIRY_FIELD] = ledger.expiry(now, ttl_days)
        return data


def _request(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The request as it came, to replay it; cut (and said so) when too large to keep."""
    truncated = len(body) > _MAX_REQUEST_BYTES
    kept = body[:_MAX_REQUEST_BYTES]
    try:
        text, encoding = kept.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    return {"request": {"headers": dict(headers), "body": text, "bodyEncoding": encoding,
                        "bodyBytes": len(body), "truncated": truncated}}
