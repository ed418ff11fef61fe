"""An in-process queue for documents that many deliveries write at once (hot views).

One instance serves many deliveries concurrently (80 by default in
production). When they all read-modify-write one view, optimistic commits
let one win per round and send the rest back to re-read: N events cost
about N²/2 attempts. Serialising them inside the instance costs one
attempt each after the first collision. So a document whose commit lost a
race becomes *hot* for a few seconds, and deliveries writing it take its
turn: a retry holds the turn through its handler and commit, a first
attempt only through its commit.

This is only a queue, never a guarantee: instances do not share it, and
the commit's preconditions stay the proof. Hot entries expire; turns are
taken in sorted order and only before a delivery holds any, so two
deliveries never wait on each other.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack, contextmanager
from typing import Iterable, Iterator

Key = tuple[str, str, str]  # (project, database, document path)


class HotDocuments:
    def __init__(self, hot_for: float = 5.0, size: int = 1_000) -> None:
        self.hot_for = hot_for
        self.size = size
        self._until: dict[Key, float] = {}
        self._turns: dict[Key, threading.Lock] = {}
        self._lock = threading.Lock()

    def mark(self, keys: Iterable[Key]) -> None:
        """These documents just lost a commit race: queue their writers for a while."""
        until = time.monotonic() + self.hot_for
        with self._lock:
            for key in keys:
                self._until[key] = until
                self._turns.setdefault(key, threading.Lock())
            self._expire()

    def hot(self, keys: Iterable[Key]) -> list[Key]:
        now = time.monotonic()
        with self._lock:
            return sorted(k for k in set(keys) if self._until.get(k, 0.0) > now)

    @contextmanager
    def turn(self, keys: Iterable[Key], timeout: float) -> Iterator[None]:
        """Hold the turn of every hot document among `keys` (none held on entry)."""
        with ExitStack() as stack:
            deadline = time.monotonic() + max(timeout, 0.0)
            for key in self.hot(keys):
                with self._lock:
                    turn = self._turns.setdefault(key, threading.Lock())
                if turn.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                    stack.callback(turn.release)
            yield

    def _expire(self) -> None:
        if len(self._until) <= self.size:
            return
        now = time.monotonic()
        for key in [k for k, until in self._until.items() if until <= now and not self._turns[k].locked()]:
            del self._until[key], self._turns[key]
