"""The Query+Task executor: each event's effect commits exactly once.

One delivery of an event runs this loop:

1. Give up early on what can never succeed: an event older than
   `max_event_age_seconds`, or snapshots that do not fit the source model
   (the event's data never changes, so a retry cannot help). Both are
   dead-lettered with the reason, and acknowledged.
2. One attempt: read the ledger mark, the document's watermark and any dead
   letter in one round trip. A mark means a duplicate delivery: acknowledge,
   write nothing. A watermark at or past this event's version means a newer
   event for the same document was applied: acknowledge as superseded, so a
   late event never regresses a view. Otherwise run the handler against a
   UnitOfWork (see unit_of_work.py: reads recorded, writes buffered) and
   commit its writes, the new ledger mark and the advanced watermark in one
   atomic commit whose preconditions prove nothing it read has changed.
   All of it commits together, or none of it does.
3. Contention (a precondition that failed, a mark created by a concurrent
   delivery, an aborted transaction) discards the attempt and re-runs it on
   fresh data after jittered exponential backoff, bounded by attempts and a
   deadline.
4. A handler error answers non-2xx so the platform redelivers; the failed
   delivery is counted, and at `max_deliveries` the event is dead-lettered
   (event, error, attempts) and acknowledged. Nothing is silently lost.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable

from . import ledger
from .change import Change
from .events import DocumentEvent
from .mediator import Mediator
from .models import SchemaError
from .spec import EventKind, Mode, TriggerSpec
from .store import Store, write_retry
from .unit_of_work import StaleRead, UnitOfWork, Write

log = logging.getLogger("onto_functions.executor")

APPLIED = "applied"
DUPLICATE = "duplicate"
SUPERSEDED = "superseded"
IGNORED = "ignored"
DEAD_LETTERED = "dead_lettered"
FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """What one delivery did; `acknowledged` decides 2xx (done) or non-2xx (redeliver)."""

    status: str
    trigger: str
    event_id: str
    attempts: int = 1
    detail: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.status != FAILED

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.status,
            "trigger": self.trigger,
            "eventId": self.event_id,
            "attempts": self.attempts,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ContentionPolicy:
    """Bounds on one delivery's transaction attempts under contention."""

    max_attempts: int = 40
    base_delay: float = 0.02
    max_delay: float = 1.0
    deadline_seconds: float = 45.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        # Full jitter: spreads contending writers apart instead of re-colliding.
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def _is_contention(exc: BaseException) -> bool:
    from google.api_core import exceptions as gexc

    retryable = (gexc.Aborted, gexc.AlreadyExists, gexc.Conflict, gexc.FailedPrecondition,
                 gexc.NotFound, gexc.DeadlineExceeded, gexc.ServiceUnavailable, gexc.InternalServerError)
    if isinstance(exc, (StaleRead, *retryable)):
        return True
    # The client wraps a commit that aborted on its last attempt in a ValueError.
    return isinstance(exc, ValueError) and isinstance(exc.__cause__, retryable)


class Executor:
    """Runs one trigger's handler for decoded events (one instance per function process)."""

    def __init__(
        self,
        spec: TriggerSpec,
        mediator: Mediator,
        *,
        client_for: Callable[[str, str], Any],
        contention: ContentionPolicy = ContentionPolicy(),
        clock: Callable[[], datetime] = ledger.utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = spec
        self.mediator = mediator
        attr, self.source = type(mediator).handler_for(spec.name)
        self.handler = getattr(mediator, attr)
        self.client_for = client_for
        # Give up on contention well before the platform's timeout kills the
        # function, so the failure is counted and answered, not cut off.
        self.contention = replace(contention, deadline_seconds=min(contention.deadline_seconds,
                                                         0.75 * spec.options.timeout_seconds))
        self.clock = clock
        self.rng = rng or random.Random()
        self.template = self.source.pattern
        self.watermarks = WatermarkCache()

    # -- entry -----------------------------------------------------------------
    def process(self, event: DocumentEvent) -> Outcome:
        spec = self.spec
        params = self.template.match(event.document)
        if params is None:
            return self._outcome(IGNORED, event, detail=f"{event.document!r} does not match {spec.document!r}")
        if not spec.kind.fires_for(event.kind):
            return self._outcome(IGNORED, event, detail=f"{event.kind.value} event on a {spec.kind.trigger_name} trigger")
        event = event.bind(params)
        client = self.client_for(event.project, event.database)
        now = self.clock()
        age = (now - event.time).total_seconds()
        if age > spec.options.max_event_age_seconds:
            return self._dead_letter(client, event, f"event is {age:.0f} s old, past max_event_age_seconds="
                                     f"{spec.options.max_event_age_seconds}", attempts=0)
        try:
            change = self._change(event)
        except SchemaError as exc:
            return self._dead_letter(client, event, f"bad source document: {exc}", attempts=0)
        try:
            return self._run(client, event, change)
        except Exception as exc:  # the handler's, or contention past the bounds
            return self._failed(client, event, exc)

    # -- the transaction loop ------------------------------------------------------
    def _change(self, event: DocumentEvent) -> Change:
        decode = self.source.decode
        before = decode(event.document, event.before.data) if event.before else None
        after = decode(event.document, event.after.data) if event.after else None
        return Change(event=event, before=before, after=after)

    def _run(self, client: Any, event: DocumentEvent, change: Change) -> Outcome:
        policy = self.contention
        started = time.monotonic()
        attempt = 0
        speculate = True
        while True:
            attempt += 1
            try:
                status = self._attempt(client, event, change, speculate=speculate)
                return self._outcome(status, event, attempts=attempt)
            except Exception as exc:
                if not _is_contention(exc):
                    raise
                self.watermarks.forget(event.document)
                elapsed = time.monotonic() - started
                if attempt >= policy.max_attempts or elapsed >= policy.deadline_seconds:
                    raise RuntimeError(
                        f"gave up after {attempt} attempts in {elapsed:.1f} s of contention: {exc}"
                    ) from exc
                if speculate:
                    speculate = False  # a wrong guess, not contention: read and go again at once
                else:
                    time.sleep(policy.delay(attempt, self.rng))

    def _attempt(self, client: Any, event: DocumentEvent, change: Change, *, speculate: bool) -> str:
        """One optimistic attempt: check the ledger, run the handler, commit if still valid.

        The ledger read costs a round trip; it is skipped when this process can
        guess the watermark (a create, whose document has no history, or a
        document this process applied last). The commit itself proves the
        guess: the mark must not exist, the watermark must be as guessed and no
        dead letter may exist, or nothing commits and the attempt is redone
        with the read.
        """
        guarded: list[tuple[Write, Any]] = []
        if self.spec.mode is Mode.EXACTLY_ONCE:
            name = self.spec.name
            mark_path = ledger.mark_path(name, event.id)
            watermark_path = ledger.watermark_path(name, event.document)
            dead_path = ledger.dead_letter_path(name, event.id)
            guess = self.watermarks.guess(event) if speculate else _NO_GUESS
            if guess is not _NO_GUESS:
                watermark_guard = guess
                guarded.append((Write("delete", dead_path), None))  # asserts: not dead-lettered
            else:
                mark, watermark, dead = Store(client).read_all([mark_path, watermark_path, dead_path])
                if mark is not None:
                    return DUPLICATE
                if dead is not None:
                    return DEAD_LETTERED
                if watermark is not None and _applied_order(watermark.data) >= event.order_key:
                    # Marked too, so a redelivery of this event is a cheap duplicate.
                    UnitOfWork(client).commit([(Write("create", mark_path, self._mark(event, SUPERSEDED)), True)])
                    return SUPERSEDED
                watermark_guard = watermark.update_time if watermark is not None else None
            version, rank = event.order_key
            guarded += [
                (Write("create", mark_path, self._mark(event, APPLIED)), True),
                (Write("set", watermark_path, {
                    "trigger": name,
                    "document": event.document,
                    "version": version,
                    "rank": rank,
                    "eventId": event.id,
                    ledger.EXPIRY_FIELD: ledger.expiry(self.clock(), self.spec.options.ledger_ttl_days),
                }), watermark_guard),
            ]
        work = UnitOfWork(client)
        self.handler(change, work)
        written = work.commit(guarded)
        if self.spec.mode is Mode.EXACTLY_ONCE and watermark_path in written:
            self.watermarks.remember(event, written[watermark_path])
        return APPLIED

    def _mark(self, event: DocumentEvent, status: str) -> dict[str, Any]:
        now = self.clock()
        return {
            "trigger": self.spec.name,
            "eventId": event.id,
            "document": event.document,
            "eventType": event.event_type,
            "version": event.version,
            "outcome": status,
            "committedAt": now,
            ledger.EXPIRY_FIELD: ledger.expiry(now, self.spec.options.ledger_ttl_days),
        }

    # -- failure -----------------------------------------------------------------------
    def _failed(self, client: Any, event: DocumentEvent, exc: Exception) -> Outcome:
        from google.cloud.firestore import Increment

        error = _describe(exc)
        path = ledger.failure_path(self.spec.name, event.id)
        now = self.clock()
        ref = client.document(path)
        ref.set(retry=write_retry(), document_data={
            "trigger": self.spec.name,
            "eventId": event.id,
            "document": event.document,
            "attempts": Increment(1),
            "lastError": error,
            "lastFailedAt": now,
            ledger.EXPIRY_FIELD: ledger.expiry(now, self.spec.options.ledger_ttl_days),
        }, merge=True)
        attempts = int((ref.get().to_dict() or {}).get("attempts", 1))
        log.warning("%s: event %s on %s failed (delivery %d of %d): %s", self.spec.name, event.id,
                    event.document, attempts, self.spec.options.max_deliveries, error)
        if attempts >= self.spec.options.max_deliveries:
            return self._dead_letter(client, event, error, attempts=attempts)
        return self._outcome(FAILED, event, attempts=attempts, detail=error)

    def _dead_letter(self, client: Any, event: DocumentEvent, reason: str, *, attempts: int) -> Outcome:
        now = self.clock()
        Store(client).write(ledger.dead_letter_path(self.spec.name, event.id), {
            "trigger": self.spec.name,
            "eventId": event.id,
            "eventType": event.event_type,
            "eventTime": event.time,
            "document": event.document,
            "before": event.before.data if event.before else None,
            "after": event.after.data if event.after else None,
            "error": reason,
            "attempts": attempts,
            "deadLetteredAt": now,
            ledger.EXPIRY_FIELD: ledger.expiry(now, self.spec.options.ledger_ttl_days),
        })
        log.error("%s: event %s on %s dead-lettered: %s", self.spec.name, event.id, event.document, reason)
        return self._outcome(DEAD_LETTERED, event, attempts=attempts, detail=reason)

    def _outcome(self, status: str, event: DocumentEvent, *, attempts: int = 1, detail: str = "") -> Outcome:
        return Outcome(status=status, trigger=self.spec.name, event_id=event.id, attempts=attempts, detail=detail)


_NO_GUESS = object()


class WatermarkCache:
    """The watermarks this process last committed, to skip the ledger read.

    A hint only, never trusted: every guess travels as a precondition of the
    commit. Bounded (oldest entries go first) so a long-lived instance does
    not grow without limit.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: dict[str, tuple[datetime, tuple[datetime, int]]] = {}
        self._lock = threading.Lock()

    def guess(self, event: DocumentEvent) -> Any:
        """The watermark's update time (None: absent), or _NO_GUESS to read it."""
        with self._lock:
            entry = self._entries.get(event.document)
        if entry is not None:
            update_time, applied = entry
            return update_time if applied < event.order_key else _NO_GUESS
        return None if event.kind is EventKind.CREATED else _NO_GUESS

    def remember(self, event: DocumentEvent, update_time: datetime) -> None:
        with self._lock:
            self._entries.pop(event.document, None)
            self._entries[event.document] = (update_time, event.order_key)
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]

    def forget(self, document: str) -> None:
        with self._lock:
            self._entries.pop(document, None)


def _applied_order(watermark: dict[str, Any]) -> tuple[datetime, int]:
    return (watermark["version"], int(watermark.get("rank", 0)))


def _describe(exc: BaseException) -> str:
    """The error and where it was raised, without the whole traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"
