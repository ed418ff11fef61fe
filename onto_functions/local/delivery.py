"""One delivery attempt of a queued event, and what its answer decides.

    leased event ─▶ an instance of its trigger ─▶ answer ─▶ 2xx: done (ack)
                                                        └─▶ anything else: retry after a backoff,
                                                            or bury at the host's limit

Eventarc's policy, scaled down: every answer that is not 2xx (a 4xx too) and
every attempt with no answer at all (connection refused, timed out, cut off
by a killed instance) is retried with jittered exponential backoff; a 2xx
means done. The host does not second-guess an answer: a request that can
never succeed is the function's to record and acknowledge.

Attempt limits: the executor dead-letters an event whose handler failed on
`max_deliveries` deliveries (and answers 2xx). The host keeps its own, higher
limit (`max_deliveries + extra_attempts`) for failures the executor never
sees (a worker that does not start, injected failures), so an event is
never retried forever.

A redelivery (a retry, or an injected duplicate) goes to another instance
than the one that served the event last, when the trigger has several: in
production it usually reaches another instance, so per-process state must
never be what makes a redelivery harmless.

Injected faults that act on an answer live here too: a committed delivery
reported as failed (`fail`), a successful one sent once more (`duplicate`),
and the instance that answered killed before its next delivery (`restart`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
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
from .workers import Worker, WorkerError

log = logging.getLogger("onto_functions.local")

_REMEMBERED_EVENTS = 50_000  # which instance served an event last: enough for any redelivery in flight


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    took: float  # seconds from leasing to the answer, a cold start included
    where: dict[str, Any]  # the instance that answered: {"instance": n, "pid": pid}


@dataclass
class Courier:
    """Delivers leased events to their triggers' instances; `deliver` never raises and never loses a lease."""

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
    _served_by: OrderedDict[tuple[str, str], int] = field(init=False, default_factory=OrderedDict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

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
        answer = self._post(item)
        if answer is None:
            return
        outcome, detail = describe_answer(answer.status, answer.body)
        self.stats.outcome(item.trigger, outcome)
        ok = 200 <= answer.status < 300
        if ok and self.faults.fail(f"{item.trigger}/{item.event_id}/{item.seq}", item.attempts + 1):
            self.stats.count(item.trigger, "injected_failures")
            self._retry_or_bury(item, f"injected failure after the worker answered {answer.status} ({outcome})",
                                outcome=outcome, injected=True, answer=answer)
        elif not ok:
            self._retry_or_bury(item, f"worker answered {answer.status}: {detail}", outcome=outcome, answer=answer)
        else:
            self._done(item, outcome, detail, answer)

    def _post(self, item: QueuedEvent) -> _Answer | None:
        """The answer of an instance, or None when the attempt ended without one (retried or released)."""
        started = time.monotonic()
        try:
            worker = self.workers.acquire(item.trigger, avoid=self._last_instance(item))
        except WorkerError as exc:
            self._unanswered(item, str(exc), outcome="worker_failed")
            return None
        where = {"instance": worker.instance, "pid": worker.pid}
        self._remember(item, worker)
        try:
            self.stats.count(item.trigger, "delivered")
            timeout = self.specs[item.trigger].options.timeout_seconds + 10
            status, body = worker.post(item.headers, item.body, timeout=timeout)
        except OSError as exc:
            self._unanswered(item, f"instance {worker.instance} of {item.trigger} gave no answer: {exc}",
                             outcome="unanswered", where=where)
            return None
        finally:
            self.workers.release(worker)
        self._maybe_restart(item, worker)
        return _Answer(status, body, time.monotonic() - started, where)

    def _maybe_restart(self, item: QueuedEvent, worker: Worker) -> None:
        """The `restart` fault: kill the instance that just answered, so the next delivery cold-starts one."""
        if self.faults.restart(f"{item.trigger}/{item.event_id}/{item.seq}", item.attempts + 1):
            self.workers.kill(worker)
            self.stats.count(item.trigger, "injected_restarts")
            self.journal.emit({"event": "restarted", "trigger": item.trigger, "instance": worker.instance,
                               "pid": worker.pid, "after": item.event_id})

    def _last_instance(self, item: QueuedEvent) -> int | None:
        with self._lock:
            return self._served_by.get((item.trigger, item.event_id))

    def _remember(self, item: QueuedEvent, worker: Worker) -> None:
        with self._lock:
            key = (item.trigger, item.event_id)
            self._served_by.pop(key, None)
            self._served_by[key] = worker.instance
            while len(self._served_by) > _REMEMBERED_EVENTS:
                self._served_by.popitem(last=False)

    def _unanswered(self, item: QueuedEvent, error: str, *, outcome: str, where: dict[str, Any] | None = None) -> None:
        if self.stopping.is_set():  # shutting down: not a failure of the event
            self.queue.release(item)
            return
        self.stats.count(item.trigger, "unanswered")
        self._retry_or_bury(item, error, outcome=outcome, where=where)

    def _done(self, item: QueuedEvent, outcome: str, detail: str, answer: _Answer) -> None:
        self.queue.ack(item, outcome)
        latency = None if item.is_copy else max(0.0, time.time() - item.received_at)
        if latency is not None:
            self.stats.latency(item.trigger, latency)
        record = {"event": "delivered", **_about(item), "attempt": item.attempts, "status": answer.status,
                  "outcome": outcome, "handlerMs": round(answer.took * 1000, 1), **answer.where,
                  **({"latencyMs": round(latency * 1000, 1)} if latency is not None else {}),
                  **({"copyOf": item.copy_of} if item.is_copy else {}), **({"detail": detail} if detail else {})}
        self.journal.finished(item.seq, record)
        if not item.is_copy and self.faults.duplicate(f"{item.trigger}/{item.event_id}"):
            self.stats.count(item.trigger, "injected_duplicates")
            self.send_copy(item)

    def _retry_or_bury(self, item: QueuedEvent, error: str, *, outcome: str, injected: bool = False,
                       answer: _Answer | None = None, where: dict[str, Any] | None = None) -> None:
        attempt = item.attempts + 1
        limit = self.specs[item.trigger].options.max_deliveries + self.extra_attempts
        base = {**_about(item), "attempt": attempt, "outcome": outcome, "error": error[:1000],
                **({"injected": True} if injected else {}), **(answer.where if answer else where or {}),
                **({"status": answer.status, "handlerMs": round(answer.took * 1000, 1)} if answer else {})}
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


def _about(item: QueuedEvent) -> dict[str, Any]:
    return {"trigger": item.trigger, "eventId": item.event_id, "document": item.document, "seq": item.seq}
