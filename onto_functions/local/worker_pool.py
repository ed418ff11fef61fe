"""Which worker processes run: several instances per trigger, started on use, idle ones stopped.

Production runs several instances of one function and spreads deliveries
over them; instances are cold-started, and replaced, at any time, so a
redelivery usually reaches another instance than the first delivery. A
handler that keeps state per process (a cache, a guess) must survive that,
and the local stack shows whether it does: each trigger has `instances`
slots, deliveries go round the slots, and a caller may ask for any slot but
the one that served an event before (`avoid`). A killed instance leaves its
slot empty, and the next delivery there cold-starts a new process.

Memory decides when. A worker forked from the pool's zygote (worker_launch.py)
shares the imported libraries and holds a few MB of its own; a spawned one
(gunicorn master + worker) about 74 MB PSS. Either way an instance starts
lazily, on the first delivery that its slot is chosen for (milliseconds
forked, about 1-2 s spawned on 2 cores), and one idle for `idle_seconds` is
stopped (its next delivery starts it again).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from .worker_launch import Launcher, default_launcher
from .workers import Worker, WorkerError

if TYPE_CHECKING:
    from ..deploy.bundle import Bundle

log = logging.getLogger("onto_functions.local")


@dataclass
class _Slot:
    """One instance place of a trigger: its current worker (None: not running) and the lock held to start one."""

    index: int
    worker: Worker | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class WorkerPool:
    """Starts each trigger's instances on use, spreads deliveries over them, stops idle ones and all at the end."""

    def __init__(
        self,
        bundles: Sequence[Bundle],
        *,
        env: Mapping[str, str],
        log_dir: Path,
        instances: int = 1,
        idle_seconds: float = 300.0,
        on_start: Callable[[Worker], None] | None = None,
        trigger_env: Mapping[str, Mapping[str, str]] | None = None,
        launcher: Launcher | None = None,
    ) -> None:
        if instances < 1:
            raise ValueError(f"instances must be at least 1, got {instances}")
        self.bundles = {b.spec.name: b for b in bundles}
        self.env = dict(env)
        self.trigger_env = dict(trigger_env or {})  # a trigger's own variables: its secrets and params
        self.log_dir = log_dir
        self.idle_seconds = idle_seconds
        self.on_start = on_start
        self.launcher = launcher or default_launcher(self.env, log_dir, bundles)  # how each worker process starts
        self._slots = {name: [_Slot(i) for i in range(instances)] for name in self.bundles}
        self._turn = {name: itertools.count() for name in self.bundles}
        self._lock = threading.Lock()  # guards slot.worker, busy and last_used
        self._closed = False

    def acquire(self, trigger: str, *, avoid: int | None = None) -> Worker:
        """A running instance of the trigger (started now if its slot is empty), busy until `release`.

        Slots take turns; with `avoid` (an instance number) and more than one
        slot, that instance is passed over. A slot that another delivery is
        starting right now is passed over too, unless every slot is.
        """
        slots = self._slots.get(trigger)
        if slots is None:
            raise WorkerError(f"no bundle for trigger {trigger!r}; bundles: {sorted(self.bundles)}")
        first = next(self._turn[trigger])
        order = [slots[(first + k) % len(slots)] for k in range(len(slots))]
        if avoid is not None and len(order) > 1:
            order = [slot for slot in order if slot.index != avoid]
        for slot in order:
            if slot.lock.acquire(blocking=False):
                try:
                    return self._ready(trigger, slot)
                finally:
                    slot.lock.release()
        with order[0].lock:
            return self._ready(trigger, order[0])

    def _ready(self, trigger: str, slot: _Slot) -> Worker:
        """The slot's live worker, marked busy; started first if there is none (the slot's lock is held)."""
        if self._closed:
            raise WorkerError("the worker pool is shut down")
        worker = slot.worker
        if worker is None or not worker.alive:
            if worker is not None:
                log.warning("worker %s.%d died (exit %s); starting it again (log %s)", trigger, slot.index,
                            worker.proc.poll() if worker.proc else None, worker.log_path)
            env = {**self.env, **self.trigger_env.get(trigger, {})}
            worker = Worker(self.bundles[trigger], env, self.log_dir, instance=slot.index, launcher=self.launcher)
            worker.start()
            with self._lock:
                slot.worker = worker
            if self.on_start:
                self.on_start(worker)
        with self._lock:
            worker.busy += 1
            worker.last_used = time.monotonic()
        return worker

    def prestart(self) -> list[tuple[str, Exception]]:
        """Start every instance of every trigger now, in parallel; (trigger, error) of each that failed."""
        failures: list[tuple[str, Exception]] = []

        def start(trigger: str, slot: _Slot) -> None:
            try:
                with slot.lock:
                    self.release(self._ready(trigger, slot))
            except Exception as exc:  # the first delivery will try again and report it
                failures.append((trigger, exc))

        threads = [threading.Thread(target=start, args=(name, slot))
                   for name, slots in self._slots.items() for slot in slots]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return failures

    def release(self, worker: Worker) -> None:
        with self._lock:
            worker.busy -= 1
            worker.last_used = time.monotonic()

    def kill(self, worker: Worker) -> None:
        """Take the instance out of its slot (no delivery reaches it again) and SIGKILL it.

        Deliveries in flight on it are cut off: their callers see an OSError.
        """
        with self._lock:
            slot = self._slots[worker.name][worker.instance]
            if slot.worker is worker:
                slot.worker = None
        worker.kill()

    def reap_idle(self) -> list[Worker]:
        """Stop instances idle for longer than `idle_seconds`; returns them."""
        now = time.monotonic()
        stopped = []
        for slot in itertools.chain.from_iterable(self._slots.values()):
            worker = slot.worker
            if worker is None or worker.busy or now - worker.last_used < self.idle_seconds:
                continue
            if not slot.lock.acquire(blocking=False):
                continue
            try:
                with self._lock:
                    if worker.busy or slot.worker is not worker:
                        continue
                    slot.worker = None
                worker.stop()
                stopped.append(worker)
            finally:
                slot.lock.release()
        return stopped

    def running(self) -> dict[str, list[int]]:
        """trigger -> pids of its live instances (triggers with none left out)."""
        with self._lock:
            live = {name: [s.worker.pid for s in slots if s.worker is not None and s.worker.alive]
                    for name, slots in self._slots.items()}
        return {name: [pid for pid in pids if pid] for name, pids in live.items() if pids}

    def close(self) -> None:
        """Stop every instance (in parallel: each may take a moment to exit)."""
        self._closed = True
        with self._lock:
            workers = [s.worker for s in itertools.chain.from_iterable(self._slots.values()) if s.worker]
            for slot in itertools.chain.from_iterable(self._slots.values()):
                slot.worker = None
        threads = [threading.Thread(target=w.stop) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        self.launcher.close()
