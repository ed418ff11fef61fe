"""Which worker processes run: each trigger's started on first use, idle ones stopped.

Memory decides the policy. One worker (gunicorn master + one gthread worker,
Firestore client loaded) holds about 60-80 MB; 50 triggers started eagerly
would take 3-4 GB. So a worker starts lazily, on its trigger's first event
(about 1-2 s on 2 cores, paid once), and one that has been idle for
`idle_seconds` is stopped (its next event starts it again). With an app of
a few triggers nothing is ever stopped in practice; with 50, only the busy
ones cost memory.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from .workers import Worker, WorkerError

if TYPE_CHECKING:
    from ..deploy.bundle import Bundle

log = logging.getLogger("onto_functions.local")


class WorkerPool:
    """Starts each trigger's worker on first use, stops idle ones, stops all at the end."""

    def __init__(
        self,
        bundles: Sequence[Bundle],
        *,
        env: Mapping[str, str],
        log_dir: Path,
        idle_seconds: float = 300.0,
        on_start: Callable[[Worker], None] | None = None,
    ) -> None:
        self.bundles = {b.spec.name: b for b in bundles}
        self.env = dict(env)
        self.log_dir = log_dir
        self.idle_seconds = idle_seconds
        self.on_start = on_start
        self._workers: dict[str, Worker] = {}
        self._locks = {name: threading.Lock() for name in self.bundles}
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, trigger: str) -> Worker:
        """The trigger's running worker (started now if needed), marked busy until `release`."""
        lock = self._locks.get(trigger)
        if lock is None:
            raise WorkerError(f"no bundle for trigger {trigger!r}; bundles: {sorted(self.bundles)}")
        with lock:
            if self._closed:
                raise WorkerError("the worker pool is shut down")
            worker = self._workers.get(trigger)
            if worker is None or not worker.alive:
                if worker is not None:
                    log.warning("worker %s died (exit %s); starting it again (log %s)", trigger,
                                worker.proc.poll() if worker.proc else None, worker.log_path)
                worker = Worker(self.bundles[trigger], self.env, self.log_dir)
                worker.start()
                with self._lock:
                    self._workers[trigger] = worker
                if self.on_start:
                    self.on_start(worker)
            with self._lock:
                worker.busy += 1
                worker.last_used = time.monotonic()
            return worker

    def release(self, worker: Worker) -> None:
        with self._lock:
            worker.busy -= 1
            worker.last_used = time.monotonic()

    def reap_idle(self) -> list[str]:
        """Stop workers idle for longer than `idle_seconds`; returns their triggers."""
        now = time.monotonic()
        stopped = []
        for name, lock in self._locks.items():
            worker = self._workers.get(name)
            if worker is None or worker.busy or now - worker.last_used < self.idle_seconds:
                continue
            if not lock.acquire(blocking=False):
                continue
            try:
                with self._lock:
                    if worker.busy or self._workers.get(name) is not worker:
                        continue
                    del self._workers[name]
                worker.stop()
                stopped.append(name)
            finally:
                lock.release()
        return stopped

    def running(self) -> dict[str, int]:
        """trigger -> pid of each live worker."""
        with self._lock:
            return {n: w.proc.pid for n, w in self._workers.items() if w.alive and w.proc}

    def close(self) -> None:
        """Stop every worker (in parallel: each may take a moment to exit)."""
        self._closed = True
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        threads = [threading.Thread(target=w.stop) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
