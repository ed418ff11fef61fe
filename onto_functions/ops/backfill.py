"""Backfill: run a trigger over the documents that already exist, as if each were written now.

A view fills only as its sources change, so a mediator deployed over
existing data leaves every old document without its view. A backfill reads
the source documents in path order and hands each one's current state to
the trigger's own executor (retries off: see offline.py) as a synthetic
event. The ledger keys an event by the document state it reports (ledger.py:
`event_key`), so a rerun, or a live event racing the backfill for the same
state, applies that state once.

Resumable: after each page of documents is done, the last path goes into a
checkpoint file; a run that was interrupted starts after it (the page it was
in is redone, harmlessly: duplicates). Bounded: a fixed number of events in
flight, and an optional rate limit, because each one writes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import ledger
from ..events import DocumentEvent, Snapshot
from ..executor import Executor
from ..paths import PathTemplate
from ..spec import EventKind, TriggerSpec
from ..store import from_firestore


class BackfillError(ValueError):
    """A backfill that cannot run as asked (a delete trigger, a pattern it cannot list)."""


@dataclass(frozen=True)
class BackfillPlan:
    spec: TriggerSpec
    project: str
    where: tuple[tuple[str, Any], ...] = ()
    limit: int | None = None
    page_size: int = 100
    concurrency: int = 8
    rate: float | None = None  # events per second, at most

    def __post_init__(self) -> None:
        if self.spec.kind is EventKind.DELETED:
            raise BackfillError(f"{self.spec.name} fires on deletes: a backfill runs over documents that exist")
        if any(s.multi for s in PathTemplate(self.spec.document).segments):
            raise BackfillError(f"{self.spec.name}: a backfill cannot list the documents of {self.spec.document!r} "
                                "(a ** wildcard); backfill a trigger whose pattern names its collection")


@dataclass
class BackfillReport:
    outcomes: Counter = field(default_factory=Counter)
    after: str | None = None  # the last document whose page completed
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return sum(self.outcomes.values())

    def as_dict(self) -> dict[str, Any]:
        return {"outcomes": dict(self.outcomes), "documents": self.done, "after": self.after,
                "seconds": round(self.seconds, 3)}


def source_query(client: Any, plan: BackfillPlan) -> tuple[Any, Callable[[str], bool]]:
    """The query that lists the trigger's source documents in path order, and a check that a
    listed path fits the pattern (a collection-group query also finds same-named collections elsewhere)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    pattern = PathTemplate(plan.spec.document)
    segments = pattern.segments
    parent = segments[:-1]
    if all(not s.wildcard for s in parent):
        query: Any = client.collection("/".join(s.text for s in parent))
    else:
        query = client.collection_group(parent[-1].text)
    for key, value in plan.where:
        query = query.where(filter=FieldFilter(key, "==", value))
    return query.order_by("__name__"), lambda path: pattern.match(path) is not None


def count(client: Any, plan: BackfillPlan) -> int:
    """How many documents a backfill would run over (what `--dry-run` prints)."""
    query, fits = source_query(client, plan)
    if all(not s.wildcard for s in PathTemplate(plan.spec.document).segments[:-1]):
        total = int(query.count().get()[0][0].value)
    else:
        total = sum(1 for snap in query.select([]).stream() if fits(snap.reference.path))
    return min(total, plan.limit) if plan.limit is not None else total


def pages(client: Any, plan: BackfillPlan, after: str | None) -> Iterator[tuple[list[Any], str]]:
    """Snapshots of source documents a page at a time, starting after `after`, each page with
    the last path it listed (where the next page starts, even when none of it fits the pattern)."""
    query, fits = source_query(client, plan)
    left = plan.limit
    while left is None or left > 0:
        page_query = query.start_after({"__name__": client.document(after)}) if after else query
        size = plan.page_size if left is None else min(plan.page_size, left)
        snaps = list(page_query.limit(size).stream())
        if not snaps:
            return
        after = snaps[-1].reference.path
        kept = [s for s in snaps if fits(s.reference.path)]
        if left is not None:
            left -= len(kept)
        yield kept, after


def synthetic_event(plan: BackfillPlan, database: str, snap: Any) -> DocumentEvent:
    """The event a write of the document's current state would have made, keyed by that state."""
    path = snap.reference.path
    kind = EventKind.UPDATED if plan.spec.kind is EventKind.UPDATED else EventKind.CREATED
    after = Snapshot(path, from_firestore(snap.to_dict() or {}), snap.create_time, snap.update_time)
    draft = DocumentEvent(id="", event_type=kind.event_type, kind=kind, time=ledger.utcnow(), project=plan.project,
                          database=database, document=path, before=None, after=after)
    digest = hashlib.sha256(f"{plan.spec.name}\n{ledger.event_key(draft)}".encode()).hexdigest()[:32]
    from dataclasses import replace

    return replace(draft, id=f"backfill-{digest}", event_type=plan.spec.event_type)


class RateLimit:
    """At most `rate` acquisitions per second, spread evenly, across threads."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            wait, self._next = max(0.0, self._next - now), max(self._next, now) + self.interval
        if wait:
            time.sleep(wait)


class Checkpoint:
    """Where a backfill got to, in a small JSON file (written atomically)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def save(self, report: BackfillReport) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(report.as_dict()), encoding="utf-8")
        temporary.replace(self.path)

    def clear(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()


def run(client: Any, executor: Executor, plan: BackfillPlan, *, checkpoint: Checkpoint,
        progress: Callable[[BackfillReport], None] = lambda report: None) -> BackfillReport:
    """Run the backfill (resuming after the checkpoint, if any); the report counts outcomes."""
    saved = checkpoint.load()
    report = BackfillReport(Counter(saved.get("outcomes", {})), saved.get("after"))
    started = time.monotonic() - float(saved.get("seconds", 0.0))
    limit = RateLimit(plan.rate)
    database = getattr(client, "_database", None) or "(default)"

    def one(snap: Any) -> str:
        limit.acquire()
        return executor.process(synthetic_event(plan, database, snap)).status

    with ThreadPoolExecutor(max_workers=plan.concurrency, thread_name_prefix="onto-backfill") as pool:
        for page, last in pages(client, plan, report.after):
            report.outcomes.update(pool.map(one, page))
            report.after = last
            report.seconds = time.monotonic() - started
            checkpoint.save(report)
            progress(report)
    checkpoint.clear()
    return report
