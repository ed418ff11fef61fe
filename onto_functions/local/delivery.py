"""One delivery attempt of a queued event, and what its answer decides.

    leased event ─▶ a worker of its trigger ─▶ answer ─▶ ack (done)
                                                     └─▶ retry after a backoff, or bury at the host's limit

Attempt limits: the executor dead-letters an event whose handler failed on
`max_deliveries` deliveries (and answers 2xx). The host keeps its own, higher
limit (`max_deliveries + extra_attempts`) for failures the executor never
sees (a worker that does not start, injected failures), so an event is
never retried forever.

Injected faults that act on an answer live here too: a committed delivery
reported as failed (`fail`), and a successful one sent once more
(`duplicate`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..spec import TriggerSpec
from .answers import describe_answer
from .backoff import Backoff
from .faults import Faults
from .journal import Journal
from .queue import DurableQueue, QueuedEvent
from .stats import Stats
from .worker_pool import WorkerPool
from .workers import WorkerError

log = logging.getLogger("onto_functions.local")


@dataclass
class Courier:
    """Delivers leased events to their triggers' workers; `deliver` never raises and never loses a lease."""

    specs: Mapping[str, TriggerSpec]
    queue: DurableQueue
    workers: WorkerPool
    faults: Faults
    stats: Stats
    journal: Journal
    backoff: Backoff
    extra_attempts: int  # the host's limit: the trigger's max_deliveries + this
    stopping: threading.Event  # set: the host is stopping, an unanswered event goes back untried
    send_copy: Callable[[QueuedEvent], Any]  # queue an injected duplicate of a delivered event
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.plan.seed)

    def deliver(self, item: QueuedEvent) -> None:
        try:
            self._deliver_once(item)
        except Exception:  # never lose the lease: the event must go back to the queue
            log.exception("delivery of event %s to %s crashed", item.event_id, item.trigger)
            self._retry_or_bury(item, "host error while delivering (see log)", outcome="failed")

    def _deliver_once(self, item: QueuedEvent) -> None:
        if self.stopping.is_set():
            self.queue.release(item)
            return
        started = time.monotonic()
        answer = self._post(item)
        if answer is None:
            return
        status, body = answer
        outcome, detail = describe_answer(status, body)
        took = time.monotonic() - started
        attempt = item.attempts + 1
        if 200 <= status < 300 and self.faults.fail(f"{item.trigger}/{item.event_id}/{item.seq}", attempt):
            self.stats.count(item.trigger, "injected_failures")
            self._retry_or_bury(item, f"injected failure after the worker answered {status} ({outcome})",
                                outcome=outcome, injected=True, took=took)
        elif not 200 <= status < 300:
            self._retry_or_bury(item, f"worker answered {status}: {detail}", outcome=outcome, took=took)
        else:
            self._done(item, status, outcome, detail, took)

    def _post(self, item: QueuedEvent) -> tuple[int, bytes] | None:
        """The worker's (status, body), or None when the attempt ended without an answer (retried or released)."""
        try:
            worker = self.workers.acquire(item.trigger)
        except WorkerError as exc:
            self._unanswered(item, str(exc), outcome="worker_failed")
            return None
        try:
            self.stats.count(item.trigger, "delivered")
            timeout = self.specs[item.trigger].options.timeout_seconds + 10
            return worker.post(item.headers, item.body, timeout=timeout)
        except OSError as exc:
            self._unanswered(item, f"worker for {item.trigger} unreachable: {exc}", outcome="unreachable")
            return None
        finally:
            self.workers.release(worker)

    def _unanswered(self, item: QueuedEvent, error: str, *, outcome: str) -> None:
        if self.stopping.is_set():  # shutting down: not a failure of the event
            self.queue.release(item)
        else:
            self._retry_or_bury(item, error, outcome=outcome)

    def _done(self, item: QueuedEvent, status: int, outcome: str, detail: str, took: float) -> None:
        self.queue.ack(item, outcome)
        latency = None if item.is_copy else max(0.0, time.time() - item.received_at)
        self.stats.outcome(item.trigger, outcome, latency)
        record = {"event": "delivered", "trigger": item.trigger, "eventId": item.event_id,
                  "document": item.document, "seq": item.seq, "attempt": item.attempts, "status": status,
                  "outcome": outcome, "handlerMs": round(took * 1000, 1),
                  **({"latencyMs": round(latency * 1000, 1)} if latency is not None else {}),
                  **({"copyOf": item.copy_of} if item.is_copy else {}), **({"detail": detail} if detail else {})}
        self.journal.finished(item.seq, record)
        if not item.is_copy and self.faults.duplicate(f"{item.trigger}/{item.event_id}"):
            self.stats.count(item.trigger, "injected_duplicates")
            self.send_copy(item)

    def _retry_or_bury(self, item: QueuedEvent, error: str, *, outcome: str, injected: bool = False,
                       took: float | None = None) -> None:
        attempt = item.attempts + 1
        limit = self.specs[item.trigger].options.max_deliveries + self.extra_attempts
        base = {"trigger": item.trigger, "eventId": item.event_id, "document": item.document, "seq": item.seq,
                "attempt": attempt, "outcome": outcome, "error": error[:1000],
                **({"injected": True} if injected else {}),
                **({"handlerMs": round(took * 1000, 1)} if took is not None else {})}
        if attempt >= limit:
            self.queue.bury(item, error)
            self.stats.count(item.trigger, "dead_lettered")
            self.journal.finished(item.seq, {"event": "dead_lettered", **base,
                                             "detail": f"host gave up after {attempt} attempts"})
            return
        delay = self.backoff.delay(attempt, self._rng)
        self.queue.retry(item, delay, error)
        self.stats.count(item.trigger, "retried")
        self.journal.emit({"event": "retry", **base, "retryInMs": round(delay * 1000)})
