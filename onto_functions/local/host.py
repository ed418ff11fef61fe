"""The function host: accepts the emulator's events durably, then delivers them like production.

    emulator ──POST──▶ accept(): validate, store in the DurableQueue, 200   (milliseconds)
    dispatcher ──────▶ worker (the trigger's bundle in functions-framework) ─▶ executor

Why two halves: the emulator sends every event from one thread, drops an
event it could not deliver, and waits up to 20 s for each answer. So the
front only validates and stores (an event is on disk before the emulator
gets its 200), and the dispatcher delivers from its own threads with
production's semantics: at least once, failed attempts retried with
backoff up to a limit (see delivery.py); at most `concurrency` deliveries
in flight per trigger, spread over its instances (worker_pool.py), so a
slow trigger holds back only itself; no ordering promise. Fault injection
(faults.py) sits in the dispatcher.

The HTTP front that calls `accept` is host_server.py.

The set of triggers can change while the host runs (`onto emulate`'s dev
loop, reload.py): `hold` keeps a trigger's events in the queue while its
workers are swapped, `serve` adds or updates a trigger, `retire` stops
delivering a removed one; its events, queued and new, stay in the queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Mapping, Sequence

from ..events import BadEvent, preload
from ..ledger import utcnow
from ..spec import TriggerSpec
from ..stream_decoding import decode_for_spec
from .synthetic_requests import synthetic_request
from .backoff import Backoff
from .delivery import Courier
from .faults import Faults
from .journal import EventLog, Journal
from .queue import DurableQueue, QueuedEvent
from .stats import Stats
from .worker_pool import WorkerPool

__all__ = ["FunctionHost"]

log = logging.getLogger("onto_functions.local")


class FunctionHost:
    """Accepts events for a set of triggers and delivers them to their workers."""

    def __init__(
        self,
        specs: Sequence[TriggerSpec],
        queue: DurableQueue,
        workers: WorkerPool,
        *,
        faults: Faults | None = None,
        stats: Stats | None = None,
        concurrency: int = 4,
        backoff: Backoff = Backoff(),
        host_extra_attempts: int = 5,
        on_event: EventLog | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.specs = {s.name: s for s in specs}
        self.queue = queue
        self.workers = workers
        self.faults = faults or Faults()
        self.stats = stats or Stats(self.specs)
        self.concurrency = concurrency
        self.journal = Journal(on_event)
        self._in_flight: dict[str, int] = {name: 0 for name in self.specs}
        self._held: set[str] = set()  # triggers being swapped: their events wait in the queue
        self._retired: set[str] = set()  # removed triggers: events are stored, none delivered
        self._wake = threading.Condition()
        self._kicked = False
        self._stopping = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.courier = Courier(self.specs, queue, workers, faults=self.faults, stats=self.stats,
                               journal=self.journal, backoff=backoff, extra_attempts=host_extra_attempts,
                               stopping=self._stopping, send_copy=self._send_copy)

    # ------------------------------------------------------------------ front

    def accept(self, trigger: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """The emulator's POST for `trigger`: validate, store durably, answer. Never runs a handler."""
        if trigger not in self.specs:
            return 404, f"unknown trigger {trigger!r}; this host serves {sorted(self.specs)}\n".encode()
        headers = {k.lower(): v for k, v in headers.items()}
        try:  # the worker's entry point knows its project; here the request's own suffices
            event = decode_for_spec(self.specs[trigger], headers, body, project="", clock=utcnow)
        except BadEvent as exc:
            log.warning("%s: refused an event: %s", trigger, exc)
            self.journal.emit({"event": "refused", "trigger": trigger, "error": str(exc)})
            return exc.status, f"{exc}\n".encode()
        item = self._enqueue(trigger, event.id, event.subject, headers, body)
        return 200, json.dumps({"stored": item.seq, "eventId": event.id}).encode()

    def _enqueue(self, trigger: str, event_id: str, document: str, headers: Mapping[str, str], body: bytes,
                 *, copy_of: int | None = None) -> QueuedEvent:
        key = f"{trigger}/{event_id}" + (f"/copy-of-{copy_of}" if copy_of is not None else "")
        delay = self.faults.hold_back(key)
        item = self.queue.put(trigger, event_id, headers, body, document=document, delay=delay, copy_of=copy_of)
        if copy_of is None:
            self.stats.count(trigger, "received")
        if delay:
            self.stats.count(trigger, "injected_holds")
        self.journal.emit({"event": "received" if copy_of is None else "duplicated", "trigger": trigger,
                           "eventId": event_id, "document": document, "seq": item.seq,
                           **({"heldBackMs": round(delay * 1000)} if delay else {})})
        self._dispatch_now(held_back=bool(delay))
        return item

    def _dispatch_now(self, *, held_back: bool = False) -> None:
        """Lease what is due and fits on this thread: the one that stored a fresh event, or the one whose
        delivery freed a slot. Neither hops through the dispatcher (a thread to wake per event, measured
        as a seventh of the host's CPU); it still hears of a held-back event (it wakes when that is due)
        and of due events left behind for want of a slot."""
        if self._pool is None or self._stopping.is_set() or self._paused.is_set():
            self.kick()
            return
        items, left_behind = self._take_due()
        self._submit(items)
        if held_back or left_behind:
            self.kick()

    def _send_copy(self, item: QueuedEvent) -> QueuedEvent:
        return self._enqueue(item.trigger, item.event_id, item.document, item.headers, item.body, copy_of=item.seq)

    def invoke(self, trigger: str, document: str = "", *, project: str, wait: float | None = 30.0,
               **content: Any) -> dict[str, Any]:
        """Send one synthetic event (as the emulator, Pub/Sub or Cloud Scheduler would) through the
        queue; with `wait`, its outcome. `content`: before/after for a document trigger, data/attributes
        for a message trigger, at (a datetime) for a schedule trigger."""
        spec = self.specs.get(trigger)
        if spec is None:
            raise KeyError(f"unknown trigger {trigger!r}; this host serves {sorted(self.specs)}")
        event, headers, body = synthetic_request(spec, project, document, **content)
        item, waiter = self.journal.expecting(
            lambda: self._enqueue(trigger, event.id, event.subject, headers, body), lambda stored: stored.seq)
        stored = {"stored": item.seq, "eventId": event.id, "trigger": trigger}
        if not wait:
            return stored
        record = waiter.wait(wait)
        if record is None:
            return {**stored, "outcome": "pending", "detail": f"no final answer within {wait:g} s; it stays queued"}
        return record

    # ------------------------------------------------------------------ dispatcher

    def start(self) -> FunctionHost:
        if self._thread is not None:
            return self
        preload()
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency * max(1, len(self.specs)),
                                        thread_name_prefix="onto-deliver")
        self._thread = threading.Thread(target=self._dispatch_loop, name="onto-dispatcher", daemon=True)
        self._thread.start()
        if self.queue.recovered:
            self.journal.emit({"event": "recovered", "pending": self.queue.recovered})
        return self

    def pause(self) -> None:
        """Keep accepting and storing events, but deliver none until `resume()` (in-flight ones finish)."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()
        self.kick()

    def kick(self) -> None:
        with self._wake:
            self._kicked = True
            self._wake.notify()

    def _capacity(self, trigger: str) -> int:
        if trigger not in self.specs or trigger in self._held or trigger in self._retired:
            return 0
        return self.concurrency - self._in_flight[trigger]

    # ------------------------------------------------------------------ changing triggers (the dev loop)

    def hold(self, triggers: Iterable[str]) -> None:
        """Deliver no new event of `triggers` until `unhold` (they wait in the queue; in-flight ones go on)."""
        with self._wake:
            self._held.update(triggers)

    def unhold(self, triggers: Iterable[str]) -> None:
        with self._wake:
            self._held.difference_update(triggers)
        self.kick()

    def serve(self, spec: TriggerSpec) -> None:
        """Accept and deliver events of `spec`'s trigger: a new one, a changed one, or a removed one back."""
        with self._wake:
            self.specs[spec.name] = spec
            self._in_flight.setdefault(spec.name, 0)
            self._retired.discard(spec.name)
        self.stats.count(spec.name, "received", 0)  # its row in the live view
        self.kick()

    def retire(self, trigger: str) -> int:
        """Deliver no more events of a removed trigger; its queued events stay (and new ones are stored),
        delivered if it is served again. Returns how many are queued."""
        with self._wake:
            self._retired.add(trigger)
        return self.queue.pending_count(trigger)

    def retired(self) -> set[str]:
        """Triggers that were removed: their events are kept, not delivered."""
        with self._wake:
            return set(self._retired)

    def _dispatch_loop(self) -> None:
        last_reap = time.monotonic()
        blocked = False  # the last pass left due events behind (no free slot)
        while not self._stopping.is_set():
            self._wait_for_work(blocked)
            if self._stopping.is_set():
                break
            if self._paused.is_set():
                continue
            items, blocked = self._take_due()
            self._submit(items)
            if time.monotonic() - last_reap > 5:
                last_reap = time.monotonic()
                for worker in self.workers.reap_idle():
                    self.journal.emit({"event": "worker_stopped", "trigger": worker.name,
                                       "instance": worker.instance, "pid": worker.pid, "reason": "idle"})

    def _submit(self, items: list[QueuedEvent]) -> None:
        for item in items:
            self.stats.count(item.trigger, "in_flight")
            try:
                self._pool.submit(self._deliver, item)  # type: ignore[union-attr]
            except (AttributeError, RuntimeError):  # the pool was shut down meanwhile: the host is stopping,
                self._deliver(item)  # so the courier gives the lease back untried

    def _wait_for_work(self, blocked: bool) -> None:
        """Until kicked (an event stored, a delivery finished) or the next held-back event is due."""
        with self._wake:
            if not self._kicked:
                due = self.queue.next_due()
                if due is None:
                    timeout = 0.5
                elif blocked and due <= time.time():
                    timeout = 0.1  # a finishing delivery kicks us; poll for held-back ones meanwhile
                else:
                    timeout = min(0.5, max(0.0, due - time.time()))
                if timeout > 0:
                    self._wake.wait(timeout)
            self._kicked = False

    def _take_due(self) -> tuple[list[QueuedEvent], bool]:
        """Lease the due events that fit in each trigger's free slots; True if due ones were left behind."""
        with self._wake:
            # Production delivers events of one document concurrently too; the
            # executor's watermark precondition sorts them out, so do not serialise.
            items = self.queue.take(self._capacity, one_per_document=False)
            for item in items:
                self._in_flight[item.trigger] += 1
            due = self.queue.next_due()
        return items, due is not None and due <= time.time()

    def _deliver(self, item: QueuedEvent) -> None:
        try:
            self.courier.deliver(item)
        finally:
            with self._wake:
                self._in_flight[item.trigger] -= 1
            self.stats.count(item.trigger, "in_flight", -1)
            self._dispatch_now()

    # ------------------------------------------------------------------ state

    def idle(self) -> bool:
        """Nothing queued and nothing in flight (events kept for removed triggers aside)."""
        kept = sum(self.queue.pending_count(t) for t in self.retired())
        return self.queue.pending_count() == kept and not any(self._in_flight.values())

    def wait_idle(self, timeout: float = 60.0, settle: float = 0.0) -> bool:
        """Poll until idle (after an optional quiet period with no new events); False at the deadline."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return True
            else:
                quiet_since = None
            time.sleep(0.02)
        return False

    def stop(self, grace: float = 3.0) -> None:
        """Stop dispatching and give in-flight deliveries `grace` seconds to finish.

        What is still in flight after that is abandoned when the caller stops
        the workers: never acknowledged, so it stays pending in the queue and
        is delivered again by the next start (the ledger absorbs it if it had
        committed). Then call `join()`.
        """
        self._stopping.set()
        self.kick()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        deadline = time.monotonic() + grace
        while any(self._in_flight.values()) and time.monotonic() < deadline:
            time.sleep(0.02)

    def join(self, timeout: float = 30.0) -> None:
        """Wait for the delivery threads (after the workers are stopped, they end at once)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
