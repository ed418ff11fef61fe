"""The function host: accepts the emulator's events durably, then delivers them like production.

    emulator ──POST──▶ accept(): validate, store in the DurableQueue, 200   (milliseconds)
    dispatcher ──────▶ worker (the trigger's bundle in functions-framework) ─▶ executor

Why two halves: the emulator sends every event from one thread, drops an
event it could not deliver, and waits up to 20 s for each answer. So the
front only validates and stores (an event is on disk before the emulator
gets its 200), and the dispatcher delivers from its own threads with
production's semantics: at least once, failed attempts retried with
exponential backoff up to a limit, then dead-lettered; at most
`concurrency` deliveries in flight per trigger, so a slow trigger holds back
only itself; no ordering promise. Fault injection (faults.py) sits in the
dispatcher.

Attempt limits: the executor dead-letters an event whose handler failed on
`max_deliveries` deliveries (and answers 2xx). The host keeps its own, higher
limit (`max_deliveries + host_extra_attempts`) for failures the executor
never sees (a worker that does not start, injected failures), so an event
is never retried forever.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Mapping, Sequence

from ..decoding import decode_request
from ..encoding import encode_cloudevent
from ..events import BadEvent, preload
from ..spec import TriggerSpec
from .faults import Faults
from .loopback import LoopbackServer
from .queue import DurableQueue, QueuedEvent
from .stats import Stats
from .workers import WorkerError, WorkerPool, describe_answer

log = logging.getLogger("onto_functions.local")

EventLog = Callable[[dict[str, Any]], None]
_ROUTE = re.compile(r"^/functions/projects/(?P<project>[^/]+)/triggers/(?P<trigger>[^/?]+)/?(?:\?.*)?$")


@dataclass(frozen=True)
class Backoff:
    """Delay before redelivering a failed event: base * 2**(attempt-1), capped, with full jitter
    over its upper half. Production waits 10-600 s; locally a fraction of a second keeps the loop tight."""

    base: float = 0.2
    cap: float = 10.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)


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
        self.backoff = backoff
        self.host_extra_attempts = host_extra_attempts
        self.on_event = on_event
        self._rng = random.Random(self.faults.plan.seed)
        self._in_flight: dict[str, int] = {name: 0 for name in self.specs}
        self._wake = threading.Condition()
        self._kicked = False
        self._stopping = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._waiters: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._waiters_lock = threading.Lock()

    # ------------------------------------------------------------------ front

    def accept(self, trigger: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """The emulator's POST for `trigger`: validate, store durably, answer. Never runs a handler."""
        if trigger not in self.specs:
            return 404, f"unknown trigger {trigger!r}; this host serves {sorted(self.specs)}\n".encode()
        headers = {k.lower(): v for k, v in headers.items()}
        try:
            event = decode_request(headers, body)
        except BadEvent as exc:
            log.warning("%s: refused an event: %s", trigger, exc)
            self._emit({"event": "refused", "trigger": trigger, "error": str(exc)})
            return exc.status, f"{exc}\n".encode()
        item = self._enqueue(trigger, event.id, event.document, headers, body)
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
        self._emit({"event": "received" if copy_of is None else "duplicated", "trigger": trigger,
                    "eventId": event_id, "document": document, "seq": item.seq,
                    **({"heldBackMs": round(delay * 1000)} if delay else {})})
        self.kick()
        return item

    def invoke(self, trigger: str, document: str, *, project: str, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None, wait: float | None = 30.0) -> dict[str, Any]:
        """Send one synthetic event (as the emulator would) through the queue; with `wait`, its outcome."""
        from ..testing.builders import document_event

        spec = self.specs.get(trigger)
        if spec is None:
            raise KeyError(f"unknown trigger {trigger!r}; this host serves {sorted(self.specs)}")
        # The trigger's own event type, as the emulator would send it.
        event = document_event(project, document, before=before, after=after, event_type=spec.kind)
        headers, body = encode_cloudevent(event, form="base64")
        waiter = threading.Event(), []  # type: ignore[var-annotated]
        item = self._enqueue_waiting(trigger, event.id, document, headers, body, waiter if wait else None)
        if not wait:
            return {"stored": item.seq, "eventId": event.id, "trigger": trigger}
        if not waiter[0].wait(wait):
            return {"stored": item.seq, "eventId": event.id, "trigger": trigger, "outcome": "pending",
                    "detail": f"no final answer within {wait:g} s; it stays queued"}
        return waiter[1][-1]

    def _enqueue_waiting(self, trigger: str, event_id: str, document: str, headers: Mapping[str, str],
                         body: bytes, waiter: tuple[threading.Event, list[dict[str, Any]]] | None) -> QueuedEvent:
        with self._waiters_lock:  # registered before the dispatcher can finish it
            item = self._enqueue(trigger, event_id, document, headers, body)
            if waiter is not None:
                self._waiters[item.seq] = waiter
        return item

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
            self._emit({"event": "recovered", "pending": self.queue.recovered})
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
        if trigger not in self.specs:
            return 0
        return self.concurrency - self._in_flight[trigger]

    def _dispatch_loop(self) -> None:
        last_reap = time.monotonic()
        blocked = False  # the last pass left due events behind (no free slot, or their document busy)
        while not self._stopping.is_set():
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
            if self._stopping.is_set():
                break
            if self._paused.is_set():
                continue
            with self._wake:
                # Production delivers events of one document concurrently too; the
                # executor's watermark precondition sorts them out, so do not serialise.
                items = self.queue.take(self._capacity, one_per_document=False)
                for item in items:
                    self._in_flight[item.trigger] += 1
                due = self.queue.next_due()
                blocked = due is not None and due <= time.time()
            for item in items:
                self.stats.count(item.trigger, "in_flight")
                assert self._pool is not None
                self._pool.submit(self._deliver, item)
            if time.monotonic() - last_reap > 5:
                last_reap = time.monotonic()
                for name in self.workers.reap_idle():
                    self._emit({"event": "worker_stopped", "trigger": name, "reason": "idle"})

    def _deliver(self, item: QueuedEvent) -> None:
        try:
            self._deliver_once(item)
        except Exception:  # never lose the lease: the event must go back to the queue
            log.exception("delivery of event %s to %s crashed", item.event_id, item.trigger)
            self._retry_or_bury(item, "host error while delivering (see log)", outcome="failed")
        finally:
            with self._wake:
                self._in_flight[item.trigger] -= 1
                self._kicked = True
                self._wake.notify()
            self.stats.count(item.trigger, "in_flight", -1)

    def _deliver_once(self, item: QueuedEvent) -> None:
        if self._stopping.is_set():
            self.queue.release(item)
            return
        spec = self.specs[item.trigger]
        attempt = item.attempts + 1
        started = time.monotonic()
        try:
            worker = self.workers.acquire(item.trigger)
        except WorkerError as exc:
            if self._stopping.is_set():
                self.queue.release(item)
                return
            self._retry_or_bury(item, str(exc), outcome="worker_failed")
            return
        try:
            self.stats.count(item.trigger, "delivered")
            status, body = worker.post(item.headers, item.body, timeout=spec.options.timeout_seconds + 10)
        except OSError as exc:
            if self._stopping.is_set():
                self.queue.release(item)
                return
            self._retry_or_bury(item, f"worker for {item.trigger} unreachable: {exc}", outcome="unreachable")
            return
        finally:
            self.workers.release(worker)
        outcome, detail = describe_answer(status, body)
        took = time.monotonic() - started
        if 200 <= status < 300 and self.faults.fail(f"{item.trigger}/{item.event_id}/{item.seq}", attempt):
            self.stats.count(item.trigger, "injected_failures")
            self._retry_or_bury(item, f"injected failure after the worker answered {status} ({outcome})",
                                outcome=outcome, injected=True, took=took)
            return
        if not 200 <= status < 300:
            self._retry_or_bury(item, f"worker answered {status}: {detail}", outcome=outcome, took=took)
            return
        self.queue.ack(item, outcome)
        latency = None if item.is_copy else max(0.0, time.time() - item.received_at)
        self.stats.outcome(item.trigger, outcome, latency)
        record = {"event": "delivered", "trigger": item.trigger, "eventId": item.event_id,
                  "document": item.document, "seq": item.seq, "attempt": attempt, "status": status,
                  "outcome": outcome, "handlerMs": round(took * 1000, 1),
                  **({"latencyMs": round(latency * 1000, 1)} if latency is not None else {}),
                  **({"copyOf": item.copy_of} if item.is_copy else {}), **({"detail": detail} if detail else {})}
        self._emit(record)
        self._finished(item, record)
        if not item.is_copy and self.faults.duplicate(f"{item.trigger}/{item.event_id}"):
            self.stats.count(item.trigger, "injected_duplicates")
            self._enqueue(item.trigger, item.event_id, item.document, item.headers, item.body, copy_of=item.seq)

    def _retry_or_bury(self, item: QueuedEvent, error: str, *, outcome: str, injected: bool = False,
                       took: float | None = None) -> None:
        spec = self.specs[item.trigger]
        attempt = item.attempts + 1
        limit = spec.options.max_deliveries + self.host_extra_attempts
        base = {"trigger": item.trigger, "eventId": item.event_id, "document": item.document, "seq": item.seq,
                "attempt": attempt, "outcome": outcome, "error": error[:1000],
                **({"injected": True} if injected else {}),
                **({"handlerMs": round(took * 1000, 1)} if took is not None else {})}
        if attempt >= limit:
            self.queue.bury(item, error)
            self.stats.count(item.trigger, "dead_lettered")
            record = {"event": "dead_lettered", **base, "detail": f"host gave up after {attempt} attempts"}
            self._emit(record)
            self._finished(item, record)
            return
        delay = self.backoff.delay(attempt, self._rng)
        self.queue.retry(item, delay, error)
        self.stats.count(item.trigger, "retried")
        self._emit({"event": "retry", **base, "retryInMs": round(delay * 1000)})

    def _finished(self, item: QueuedEvent, record: dict[str, Any]) -> None:
        with self._waiters_lock:
            waiter = self._waiters.pop(item.seq, None)
        if waiter is not None:
            waiter[1].append(record)
            waiter[0].set()

    def _emit(self, record: dict[str, Any]) -> None:
        if self.on_event is not None:
            record = {"time": round(time.time(), 3), **record}
            try:
                self.on_event(record)
            except Exception:  # a broken log sink must not stop delivery
                log.exception("event log callback failed")

    # ------------------------------------------------------------------ state

    def idle(self) -> bool:
        """Nothing queued and nothing in flight."""
        return self.queue.pending_count() == 0 and not any(self._in_flight.values())

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


class HostServer:
    """The host's HTTP front on 127.0.0.1: the emulator's deliveries, `onto invoke`, stats.

        POST /functions/projects/{p}/triggers/{id}   an event from the emulator
        POST /onto/invoke    {"trigger", "document", "before", "after", "wait"} -> outcome
        GET  /onto/stats     per-trigger counters
        GET  /               "ok" (a readiness probe)
    """

    def __init__(self, host: FunctionHost, project: str, port: int = 0) -> None:
        self.host = host
        self.project = project
        self.port = port
        self._server: LoopbackServer | None = None

    @property
    def address(self) -> str:
        if self._server is None:
            raise RuntimeError("host server not started")
        return self._server.address

    def start(self) -> HostServer:
        front = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.startswith("/onto/stats"):
                    data = {"project": front.project, "triggers": front.host.stats.snapshot(),
                            "queue": front.host.queue.counts(), "workers": front.host.workers.running()}
                    self._reply(200, json.dumps(data).encode())
                elif self.path in ("/", ""):
                    self._reply(200, b"ok\n", "text/plain")
                else:
                    self._reply(404, b"not found\n", "text/plain")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                match = _ROUTE.match(self.path)
                if match:
                    status, reply = front.host.accept(match["trigger"], dict(self.headers.items()), body)
                    self._reply(status, reply)
                elif self.path.startswith("/onto/invoke"):
                    self._invoke(body)
                else:
                    self._reply(404, f"no route for {self.path}\n".encode(), "text/plain")

            def _invoke(self, body: bytes) -> None:
                try:
                    req = json.loads(body or b"{}")
                    result = front.host.invoke(
                        req["trigger"], req["document"], project=front.project,
                        before=req.get("before"), after=req.get("after"), wait=req.get("wait", 30.0))
                except KeyError as exc:
                    self._reply(404, json.dumps({"error": str(exc).strip("'\"")}).encode())
                except (ValueError, TypeError) as exc:
                    self._reply(400, json.dumps({"error": str(exc)}).encode())
                else:
                    self._reply(200, json.dumps(result, default=str).encode())

            def log_message(self, format: str, *args: object) -> None:
                log.debug("host: " + format, *args)

        self._server = LoopbackServer(_Handler, self.port, name="onto-host-http")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
