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

An edit swaps a trigger's code (`swap`, for `onto emulate`'s dev loop):
each slot belongs to a generation of the trigger's bundle, and a swap puts
fresh slots of the new generation in place at once, the first of them
already running. From then on no delivery reaches the old generation: its
workers finish what they were given (drain), then stop. A slot found
retired while a delivery waited for it sends that delivery to the new
slots, so no event ever runs on a worker of a generation that was swapped
out before the event was given one.
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
    """One instance place of a trigger's generation: the bundle it serves, its current worker (None: not
    running), the lock held to start one, and whether a swap retired it (no delivery reaches it again)."""

    index: int
    bundle: Bundle
    generation: int = 0
    worker: Worker | None = None
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Retired(Exception):
    """The slot a delivery waited for was swapped out meanwhile: take one of the trigger's current slots."""


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
        self.instances = instances
        self.idle_seconds = idle_seconds
        self.on_start = on_start
        self.launcher = launcher or default_launcher(self.env, log_dir, bundles)  # how each worker process starts
        self._slots = {name: [_Slot(i, b) for i in range(instances)] for name, b in self.bundles.items()}
        self._turn = {name: itertools.count() for name in self.bundles}
        self._draining: list[Worker] = []  # workers of swapped-out generations, stopped when their last delivery ends
        self._lock = threading.Lock()  # guards slot.worker, slot.retired, the slot lists, busy and last_used
        self._closed = False

    def acquire(self, trigger: str, *, avoid: int | None = None) -> Worker:
        """A running instance of the trigger (started now if its slot is empty), busy until `release`.

        Slots take turns; with `avoid` (an instance number) and more than one
        slot, that instance is passed over. A slot that another delivery is
        starting (or taking) right now is passed over too; when every slot
        is, the delivery waits for one whose worker runs, if any does.
        """
        while True:
            try:
                return self._acquire_current(trigger, avoid)
            except _Retired:  # swapped while this delivery waited: the trigger's new slots serve it
                continue

    def _acquire_current(self, trigger: str, avoid: int | None) -> Worker:
        with self._lock:
            slots = self._slots.get(trigger)
            turn = self._turn.get(trigger)
        if slots is None or turn is None:
            raise WorkerError(f"no bundle for trigger {trigger!r}; bundles: {sorted(self.bundles)}")
        first = next(turn)
        order = [slots[(first + k) % len(slots)] for k in range(len(slots))]
        if avoid is not None and len(order) > 1:
            order = [slot for slot in order if slot.index != avoid]
        for slot in order:
            if slot.lock.acquire(blocking=False):
                try:
                    return self._ready(trigger, slot)
                finally:
                    slot.lock.release()
        # every slot busy starting or being taken: wait for one that runs rather than for a cold start
        fallback = next((slot for slot in order if slot.worker is not None and slot.worker.alive), order[0])
        with fallback.lock:
            return self._ready(trigger, fallback)

    def _ready(self, trigger: str, slot: _Slot) -> Worker:
        """The slot's live worker, marked busy; started first if there is none (the slot's lock is held).

        Raises _Retired when a swap retired the slot: a worker started here
        for it meanwhile is stopped again, never used.
        """
        if self._closed:
            raise WorkerError("the worker pool is shut down")
        worker = slot.worker
        if worker is None or not worker.alive:
            if slot.retired:
                raise _Retired()
            if worker is not None:
                log.warning("worker %s.%d died (exit %s); starting it again (log %s)", trigger, slot.index,
                            worker.proc.poll() if worker.proc else None, worker.log_path)
            worker = self._start_worker(slot)
            with self._lock:
                installed = not slot.retired and not self._closed
                if installed:
                    slot.worker = worker
            if not installed:  # swapped out or shut down while it started: never used
                worker.stop()
                if self._closed:
                    raise WorkerError("the worker pool is shut down")
                raise _Retired()
        with self._lock:
            if slot.retired:
                raise _Retired()
            worker.busy += 1
            worker.last_used = time.monotonic()
        return worker

    def _start_worker(self, slot: _Slot) -> Worker:
        env = {**self.env, **self.trigger_env.get(slot.bundle.spec.name, {})}
        worker = Worker(slot.bundle, env, self.log_dir, instance=slot.index, launcher=self.launcher)
        worker.start()
        if self.on_start:
            self.on_start(worker)
        return worker

    def prestart(self) -> list[tuple[str, Exception]]:
        """Start every instance of every trigger now, in parallel; (trigger, error) of each that failed."""
        failures: list[tuple[str, Exception]] = []

        threads = [threading.Thread(target=self._start_slot, args=(name, slot, failures))
                   for name, slots in self._slots.items() for slot in slots]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return failures

    def _start_slot(self, trigger: str, slot: _Slot, failures: list[tuple[str, Exception]]) -> None:
        """Start the slot's worker now unless it runs (or was retired); a failure is noted, not raised."""
        try:
            with slot.lock:
                self.release(self._ready(trigger, slot))
        except _Retired:
            pass
        except Exception as exc:  # the first delivery will try again and report it
            failures.append((trigger, exc))

    def release(self, worker: Worker) -> None:
        with self._lock:
            worker.busy -= 1
            worker.last_used = time.monotonic()
            drained = worker.busy == 0 and worker in self._draining
            if drained:
                self._draining.remove(worker)
        if drained:
            worker.stop()

    # ------------------------------------------------------------------ generations (the dev loop)

    def swap(self, bundle: Bundle, generation: int) -> list[Worker]:
        """Serve `bundle`'s trigger from `bundle` from now on (a new trigger is added); the old workers drain.

        The trigger's fresh slots replace the old ones at once. When the
        trigger had a running worker, one on the new bundle is started
        before the switch (a worker that cannot start raises WorkerError and
        leaves the old generation serving), and the other instances start in
        the background after it, so that no delivery after the switch waits
        for a cold start; a trigger that ran none starts its instances on
        use, as at the start. Returns the old workers still draining (each
        stops once its last delivery answered; idle ones stop now).
        """
        if self._closed:
            raise WorkerError("the worker pool is shut down")
        name = bundle.spec.name
        with self._lock:
            old = self._slots.get(name, [])
            running = [s.index for s in old if s.worker is not None and s.worker.alive]
        fresh = [_Slot(i, bundle, generation) for i in range(self.instances)]
        later = []
        if running:
            fresh[running[0]].worker = self._start_worker(fresh[running[0]])
            later = [slot for slot in fresh if slot.worker is None]
            for slot in later:  # held until started: no delivery cold-starts them meanwhile
                slot.lock.acquire()
        with self._lock:
            self.bundles[name] = bundle
            self._slots[name] = fresh
            self._turn.setdefault(name, itertools.count())
        draining = self._retire_slots(old)
        if later:
            threading.Thread(target=self._start_held_slots, args=(name, later), name=f"onto-swap-{name}",
                             daemon=True).start()
        return draining

    def retire(self, trigger: str) -> list[Worker]:
        """Stop serving `trigger` (a removed one): no delivery reaches it again; its workers drain."""
        with self._lock:
            old = self._slots.pop(trigger, [])
            self.bundles.pop(trigger, None)
            self._turn.pop(trigger, None)
        return self._retire_slots(old)

    def _retire_slots(self, slots: list[_Slot]) -> list[Worker]:
        with self._lock:
            workers = []
            for slot in slots:
                slot.retired = True
                if slot.worker is not None:
                    workers.append(slot.worker)
                    slot.worker = None
            idle = [w for w in workers if not w.busy]
            self._draining += [w for w in workers if w.busy]
            draining = list(self._draining)
        if idle:
            threading.Thread(target=lambda: [w.stop() for w in idle], name="onto-drain", daemon=True).start()
        return [w for w in draining if w in workers]

    def _start_held_slots(self, trigger: str, slots: list[_Slot]) -> None:
        """Start the workers of `slots`, whose locks the caller acquired, releasing each once it runs."""
        for slot in slots:
            try:
                self.release(self._ready(trigger, slot))
            except _Retired:
                pass
            except Exception as exc:  # its next delivery tries again, and reports it
                log.warning("a new instance of %s did not start: %s", trigger, exc)
            finally:
                slot.lock.release()

    def draining(self) -> list[Worker]:
        """Workers of swapped-out generations that still answer deliveries given to them before the swap."""
        with self._lock:
            return list(self._draining)

    def generation(self, trigger: str) -> int | None:
        """The generation the trigger's deliveries go to (None: the pool does not serve it)."""
        with self._lock:
            slots = self._slots.get(trigger)
        return slots[0].generation if slots else None

    def kill(self, worker: Worker) -> None:
        """Take the instance out of its slot (no delivery reaches it again) and SIGKILL it.

        Deliveries in flight on it are cut off: their callers see an OSError.
        """
        with self._lock:
            slots = self._slots.get(worker.name, [])
            if worker.instance < len(slots) and slots[worker.instance].worker is worker:
                slots[worker.instance].worker = None
        worker.kill()

    def reap_idle(self) -> list[Worker]:
        """Stop instances idle for longer than `idle_seconds`; returns them."""
        now = time.monotonic()
        stopped = []
        with self._lock:  # a swap may change the slot lists meanwhile
            slots = list(itertools.chain.from_iterable(self._slots.values()))
        for slot in slots:
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
            workers += self._draining
            self._draining = []
        threads = [threading.Thread(target=w.stop) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        self.launcher.close()
