"""The function host's durable queue: an event is on disk before the emulator gets its 200.

The emulator delivers each event once (a refused or failed POST is dropped),
so the host's promise "at least once from here on" starts with this file. One
SQLite database (standard library, WAL journal) holds every event the host
accepted, with its delivery state:

    pending  accepted, not yet delivered successfully (includes events being
             delivered right now: "in flight" is kept in memory only, so a
             crash simply leaves them pending and they are delivered again)
    done     a worker acknowledged it (2xx); `outcome` says what the executor did
    dead     given up on after the host's attempt limit; `last_error` says why

Durability: WAL with `synchronous=NORMAL` survives a crash (SIGKILL) of the
host process: a committed transaction is in the WAL file, which the OS
keeps. It does not promise survival of a power loss (`synchronous="FULL"`
does, at about 2x the cost of an insert); the local stack protects against
the host dying, not the machine.

Pending rows are mirrored in memory, one heap per trigger ordered by
(not_before, seq), so the dispatcher never scans the table. The table stays
the source of truth: `DurableQueue(path)` rebuilds the heaps from it.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

PENDING = "pending"
DONE = "done"
DEAD = "dead"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger     TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    document    TEXT    NOT NULL DEFAULT '',
    headers     TEXT    NOT NULL,
    body        BLOB    NOT NULL,
    received_at REAL    NOT NULL,
    not_before  REAL    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    state       TEXT    NOT NULL DEFAULT 'pending',
    copy_of     INTEGER,
    outcome     TEXT,
    last_error  TEXT,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS events_pending ON events (state) WHERE state = 'pending';
"""


@dataclass
class QueuedEvent:
    """One stored event: what to send to the trigger's worker, and how often it was tried."""

    seq: int
    trigger: str
    event_id: str
    document: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    received_at: float  # time.time() when the host stored it
    not_before: float  # time.time() before which it is not delivered (backoff, held back)
    attempts: int = 0  # finished delivery attempts so far
    copy_of: int | None = None  # set on a duplicate injected by fault injection

    @property
    def is_copy(self) -> bool:
        return self.copy_of is not None


class DurableQueue:
    """Thread-safe. `put` commits before it returns; `take` leases due events to the dispatcher."""

    def __init__(self, path: Path | str, *, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._heaps: dict[str, list[tuple[float, int]]] = {}
        self._pending: dict[int, QueuedEvent] = {}  # every pending event, leased or not
        self._leased: set[int] = set()
        self._leased_docs: dict[tuple[str, str], int] = {}
        self.recovered = self._load()

    # -- loading

    def _load(self) -> int:
        """Rebuild the in-memory index from the table; returns how many events are pending."""
        rows = self._db.execute(
            "SELECT seq, trigger, event_id, document, headers, body, received_at, not_before, attempts, copy_of "
            "FROM events WHERE state = 'pending' ORDER BY seq"
        ).fetchall()
        for row in rows:
            self._index(_row_event(row))
        return len(rows)

    def _index(self, item: QueuedEvent) -> None:
        self._pending[item.seq] = item
        heapq.heappush(self._heaps.setdefault(item.trigger, []), (item.not_before, item.seq))

    # -- producer side

    def put(
        self,
        trigger: str,
        event_id: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        document: str = "",
        delay: float = 0.0,
        copy_of: int | None = None,
        now: float | None = None,
    ) -> QueuedEvent:
        """Store one event durably (committed on return) and make it deliverable after `delay` s."""
        received = time.time() if now is None else now
        item = QueuedEvent(
            seq=0, trigger=trigger, event_id=event_id, document=document, headers=dict(headers),
            body=bytes(body), received_at=received, not_before=received + max(0.0, delay), copy_of=copy_of,
        )
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO events (trigger, event_id, document, headers, body, received_at, not_before, copy_of) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (trigger, event_id, document, json.dumps(item.headers), item.body, item.received_at,
                 item.not_before, copy_of),
            )
            item.seq = int(cur.lastrowid)
            self._index(item)
        return item

    # -- consumer side

    def take(self, capacity: Callable[[str], int], now: float | None = None, *,
             one_per_document: bool = True) -> list[QueuedEvent]:
        """Lease the events that are due, at most `capacity(trigger)` per trigger.

        Due events of one trigger come out oldest `not_before` first; nothing
        is promised across triggers, and a held-back or retried event is
        overtaken by newer ones (production promises no order either).

        `one_per_document`: an event whose (trigger, document) already has one
        leased waits for it. The host does not ask for it (production delivers
        events of one document concurrently, and the executor's watermark
        precondition resolves them); it is there for handlers in at-least-once
        mode that want fewer races.
        """
        now = time.time() if now is None else now
        taken: list[QueuedEvent] = []
        with self._lock:
            for trigger, heap in self._heaps.items():
                room = capacity(trigger)
                skipped: list[tuple[float, int]] = []
                while room > 0 and heap and heap[0][0] <= now:
                    entry = heapq.heappop(heap)
                    item = self._pending.get(entry[1])
                    if item is None or item.seq in self._leased:
                        continue  # stale heap entry
                    key = (trigger, item.document)
                    if one_per_document and item.document and key in self._leased_docs:
                        skipped.append(entry)
                        continue
                    self._leased.add(item.seq)
                    self._leased_docs[key] = self._leased_docs.get(key, 0) + 1
                    taken.append(item)
                    room -= 1
                for entry in skipped:
                    heapq.heappush(heap, entry)
        return taken

    def _unlease(self, item: QueuedEvent) -> None:
        if item.seq in self._leased:
            self._leased.discard(item.seq)
            key = (item.trigger, item.document)
            left = self._leased_docs.get(key, 0) - 1
            if left > 0:
                self._leased_docs[key] = left
            else:
                self._leased_docs.pop(key, None)

    def next_due(self) -> float | None:
        """When the earliest waiting (not leased) event becomes due, or None if none waits."""
        with self._lock:
            heads = [heap[0][0] for heap in self._heaps.values() if heap]
        return min(heads) if heads else None

    def ack(self, item: QueuedEvent, outcome: str) -> None:
        """The worker answered 2xx: the event is done."""
        item.attempts += 1
        self._finish(item, DONE, outcome=outcome, error=None)

    def bury(self, item: QueuedEvent, error: str) -> None:
        """Give up on the event (the host's attempt limit): kept with the reason, never retried."""
        item.attempts += 1
        self._finish(item, DEAD, outcome=None, error=error)

    def retry(self, item: QueuedEvent, delay: float, error: str, now: float | None = None) -> None:
        """The attempt failed: count it and make the event due again after `delay` s."""
        now = time.time() if now is None else now
        item.attempts += 1
        item.not_before = now + max(0.0, delay)
        with self._lock:
            self._db.execute(
                "UPDATE events SET attempts = ?, not_before = ?, last_error = ? WHERE seq = ?",
                (item.attempts, item.not_before, error[:4000], item.seq),
            )
            self._unlease(item)
            heapq.heappush(self._heaps.setdefault(item.trigger, []), (item.not_before, item.seq))

    def release(self, item: QueuedEvent) -> None:
        """Return a leased event untried (shutdown while it waited for a worker)."""
        with self._lock:
            if item.seq in self._leased:
                self._unlease(item)
                heapq.heappush(self._heaps.setdefault(item.trigger, []), (item.not_before, item.seq))

    def _finish(self, item: QueuedEvent, state: str, *, outcome: str | None, error: str | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE events SET state = ?, attempts = ?, outcome = ?, last_error = COALESCE(?, last_error), "
                "finished_at = ? WHERE seq = ?",
                (state, item.attempts, outcome, error[:4000] if error else None, time.time(), item.seq),
            )
            self._unlease(item)
            self._pending.pop(item.seq, None)

    # -- inspection

    def pending_count(self, trigger: str | None = None) -> int:
        """Events not yet done or dead (in flight included)."""
        with self._lock:
            return sum(1 for i in self._pending.values() if trigger is None or i.trigger == trigger)

    def counts(self) -> dict[str, int]:
        """Rows per state, from the table."""
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM events GROUP BY state").fetchall()
        return {PENDING: 0, DONE: 0, DEAD: 0, **{state: n for state, n in rows}}

    def rows(self, state: str | None = None) -> list[dict[str, object]]:
        """Every row (without body and headers), oldest first: for tests, `onto` output and debugging."""
        query = ("SELECT seq, trigger, event_id, document, received_at, not_before, attempts, state, copy_of, "
                 "outcome, last_error, finished_at FROM events")
        args: tuple[object, ...] = ()
        if state is not None:
            query += " WHERE state = ?"
            args = (state,)
        with self._lock:
            cur = self._db.execute(query + " ORDER BY seq", args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def forget_finished(self, older_than: float) -> int:
        """Delete done and dead rows finished before `older_than` (time.time()); returns how many."""
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM events WHERE state != 'pending' AND finished_at < ?", (older_than,)
            )
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> DurableQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _row_event(row: Iterable[object]) -> QueuedEvent:
    seq, trigger, event_id, document, headers, body, received_at, not_before, attempts, copy_of = row
    return QueuedEvent(
        seq=int(seq), trigger=str(trigger), event_id=str(event_id), document=str(document),  # type: ignore[arg-type]
        headers=json.loads(str(headers)), body=bytes(body),  # type: ignore[arg-type]
        received_at=float(received_at), not_before=float(not_before),  # type: ignore[arg-type]
        attempts=int(attempts), copy_of=None if copy_of is None else int(copy_of),  # type: ignore[arg-type]
    )
