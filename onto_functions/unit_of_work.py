"""A handler's reads and writes, recorded, then committed atomically if still valid.

Why not run the handler inside a Firestore transaction? Transactions lock
what they read until they commit. Two handlers that read and then write the
same hot view deadlock on those read locks; the emulator breaks the tie only
after a 2 s lock timeout (measured: 20 concurrent read-modify-write
transactions on one document landed 2 of 20 in 47 s). Production breaks it
faster, but every conflict still costs a round of aborts.

So the executor runs optimistically (OCC with backward validation):

1. Run the handler against a `UnitOfWork`: reads go straight to Firestore
   with no locks and are recorded with the update time they saw (or "absent");
   writes are buffered.
2. Commit once: every write to a document that was read carries a
   precondition (its update time is still the one read, or it still does not
   exist); documents and queries that were only read are re-read inside a
   short transaction and must be unchanged. The ledger mark and watermark ride
   in the same commit. Any mismatch means a concurrent writer got there
   first: the executor re-runs the handler on fresh data.

The commit is serialisable: at its instant every read is still current. A
read-modify-write handler takes no read lock on what it writes, so contending
handlers cost one failed precondition each, not a lock timeout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from .firestore_rest import FirestoreError
from .firestore_writes import Write, write_json
from .names import RESERVED_PREFIX
from .store import Filters, Store, StoredDocument, fetch, run_query

_ABSENT = None


class StaleRead(Exception):
    """A document or query the handler read has changed since; re-run on fresh data."""


class CommitRejected(Exception):
    """The commit did not happen because someone else wrote first: a precondition
    failed, a guarded create found its document, a read went stale, or the
    transaction aborted. Nothing was written; re-read and run again."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause

    @property
    def found_existing(self) -> bool:
        """True when a create failed because its document exists (ours or the ledger's)."""
        return isinstance(self.cause, FirestoreError) and self.cause.status == "ALREADY_EXISTS"


class CommitUncertain(Exception):
    """The commit call failed in a way that does not say whether it landed
    (deadline, unavailable, internal error): read the ledger to find out."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


REJECTED = frozenset({"ABORTED", "ALREADY_EXISTS", "FAILED_PRECONDITION", "NOT_FOUND"})
"""Statuses of a commit that did not happen because of what another writer did."""
UNCERTAIN = frozenset({"DEADLINE_EXCEEDED", "UNAVAILABLE", "INTERNAL", "UNKNOWN", "CANCELLED"})
"""Statuses of a commit that may or may not have landed."""


class UnitOfWork(Store):
    """A Store whose reads are recorded and whose writes wait for `commit`."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.reads: dict[str, datetime | None] = {}
        self.queries: dict[tuple[str, tuple], list[tuple[str, datetime | None]]] = {}
        self.writes: dict[str, Write] = {}

    # -- recording ----------------------------------------------------------
    def _fetch(self, paths: list[str]) -> list[StoredDocument | None]:
        docs = super()._fetch(paths)
        for path, doc in zip(paths, docs):
            self.reads.setdefault(path, doc.update_time if doc else _ABSENT)
        return docs

    def _run_query(self, collection: str, filters: Filters) -> list[StoredDocument]:
        docs = super()._run_query(collection, filters)
        self.queries.setdefault((collection, _freeze(filters)), [(d.path, d.update_time) for d in docs])
        for d in docs:
            self.reads.setdefault(d.path, d.update_time)
        return docs

    def write(self, path: str, data: Any, *, merge: bool = False) -> None:
        self._buffer(Write("merge" if merge else "set", path.strip("/"), dict(data)))

    def create_document(self, path: str, data: Any) -> None:
        self._buffer(Write("create", path.strip("/"), dict(data)))

    def remove(self, path: str) -> None:
        self._buffer(Write("delete", path.strip("/")))

    def _buffer(self, write: Write) -> None:
        if write.path.startswith(RESERVED_PREFIX):
            # A handler that builds a path from its input (a route parameter, a message) must not reach the
            # ledger: a forged mark or stored answer would make onto skip an event or replay a request.
            raise ValueError(f"{write.path!r} is onto's own bookkeeping ({RESERVED_PREFIX}* collections): "
                             "a handler may not write it")
        # The last write to a document wins, as it would inside a transaction.
        self.writes.pop(write.path, None)
        self.writes[write.path] = write

    # -- commit -------------------------------------------------------------
    def commit(self, guarded: Iterable[tuple[Write, datetime | None | bool]] = ()) -> dict[str, datetime]:
        """Apply the buffered writes (plus `guarded` bookkeeping writes) atomically.

        A guard is the update time a document must still have, `None` for "must
        not exist", or `True` for none at all (a delete guarded by `None` writes
        nothing: it only asserts absence). Returns each written path's new
        update time. Raises CommitRejected when a concurrent writer got there
        first, CommitUncertain when the outcome is unknown; any other error is
        the handler's (a write Firestore refuses, such as a document too large).
        """
        try:
            return self._commit(list(guarded))
        except StaleRead as exc:
            raise CommitRejected(exc) from exc
        except FirestoreError as exc:
            if exc.status in REJECTED:
                raise CommitRejected(exc) from exc
            if exc.status in UNCERTAIN:
                raise CommitUncertain(exc) from exc
            raise

    def created_paths_that_exist(self) -> list[str]:
        """The documents the handler creates (without having read them) that exist now.

        After a rejected commit whose event is not in the ledger, a create of a
        document that exists is the handler's error, not contention: retrying
        it would only fail again.
        """
        creates = [w.path for w in self.writes.values() if w.op == "create" and w.path not in self.reads]
        return [p for p, doc in zip(creates, fetch(self.client, creates)) if doc is not None]

    def _commit(self, guarded: list[tuple[Write, Any]]) -> dict[str, datetime]:
        read_only = sorted(p for p in self.reads if p not in self.writes)
        writes = self._writes_json(guarded)
        if read_only or self.queries:
            transaction = self.client.begin_transaction()
            try:
                self._validate(transaction, read_only)
                times = self.client.commit(writes, transaction)
            except BaseException as exc:
                # A commit refused for a write (INVALID_ARGUMENT: too large, out of range) keeps the
                # transaction's read locks (measured on the emulator: 60 s); one rejected by contention
                # has ended it, and a rollback would only cost a round trip.
                if not (isinstance(exc, FirestoreError) and exc.status in REJECTED):
                    self.client.rollback(transaction)
                raise
        else:
            times = self.client.commit(writes)
        paths = [*self.writes, *(w.path for w, _ in guarded)]
        return dict(zip(paths, times))  # type: ignore[arg-type]

    def _validate(self, transaction: str, read_only: list[str]) -> None:
        """Re-read, inside the commit's transaction, what was only read: it must be unchanged."""
        for path, doc in zip(read_only, fetch(self.client, read_only, transaction)):
            seen = doc.update_time if doc else _ABSENT
            if seen != self.reads[path]:
                raise StaleRead(f"{path} changed while the handler ran")
        for (collection, filters), result in self.queries.items():
            now = [(d.path, d.update_time) for d in run_query(self.client, collection, filters, transaction)]
            if sorted(now, key=_key) != sorted(result, key=_key):
                raise StaleRead(f"the query on {collection} changed while the handler ran")

    def _writes_json(self, guarded: list[tuple[Write, Any]]) -> list[dict[str, Any]]:
        """Each buffered write guarded by what the handler saw of its document, then the bookkeeping."""
        own = [(w, self.reads.get(w.path, True)) for w in self.writes.values()]  # None: read as absent
        return [write_json(w, self.client, guard) for w, guard in [*own, *guarded]]


def _key(item: tuple[str, Any]) -> str:
    return item[0]


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value
