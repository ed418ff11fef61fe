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

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from .names import RESERVED_PREFIX
from .store import Filters, Store, StoredDocument, fetch, run_query, to_firestore

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
        from google.api_core.exceptions import AlreadyExists

        return isinstance(self.cause, AlreadyExists)


class CommitUncertain(Exception):
    """The commit call failed in a way that does not say whether it landed
    (deadline, unavailable, internal error): read the ledger to find out."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@dataclass(frozen=True)
class Write:
    op: str  # "set" | "merge" | "create" | "delete"
    path: str
    data: dict[str, Any] | None = None


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
        from google.api_core import exceptions as gexc

        rejected = (gexc.Aborted, gexc.AlreadyExists, gexc.Conflict, gexc.FailedPrecondition, gexc.NotFound)
        uncertain = (gexc.DeadlineExceeded, gexc.ServiceUnavailable, gexc.InternalServerError, gexc.Unknown)
        try:
            return self._commit(list(guarded))
        except StaleRead as exc:
            raise CommitRejected(exc) from exc
        except rejected as exc:
            raise CommitRejected(exc) from exc
        except uncertain as exc:
            raise CommitUncertain(exc) from exc
        except ValueError as exc:
            # The client wraps a transaction that aborted on its last attempt in a ValueError.
            if isinstance(exc.__cause__, rejected):
                raise CommitRejected(exc.__cause__) from exc
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
        if read_only or self.queries:
            from google.cloud.firestore_v1.transaction import transactional

            committer: Any = self.client.transaction(max_attempts=1)
            transactional(self._validate_and_write)(committer, read_only, guarded)
        else:
            committer = self.client.batch()
            self._add_writes(committer, guarded)
            committer.commit()
        paths = [*self.writes, *(w.path for w, _ in guarded)]
        return {p: r.update_time for p, r in zip(paths, committer.write_results or [])}

    def _validate_and_write(self, transaction: Any, read_only: list[str], guarded: list) -> None:
        for path, doc in zip(read_only, fetch(self.client, read_only, transaction)):
            seen = doc.update_time if doc else _ABSENT
            if seen != self.reads[path]:
                raise StaleRead(f"{path} changed while the handler ran")
        for (collection, filters), result in self.queries.items():
            now = [(d.path, d.update_time) for d in run_query(self.client, collection, filters, transaction)]
            if sorted(now, key=_key) != sorted(result, key=_key):
                raise StaleRead(f"the query on {collection} changed while the handler ran")
        self._add_writes(transaction, guarded)

    def _add_writes(self, sink: Any, guarded: list[tuple[Write, Any]]) -> None:
        pbs = []
        for write in self.writes.values():
            guard = self.reads[write.path] if write.path in self.reads else True
            pbs.append(_write_pb(self.client, write, guard))
        pbs += [_write_pb(self.client, write, guard) for write, guard in guarded]
        sink._add_write_pbs(pbs)


def _key(item: tuple[str, Any]) -> str:
    return item[0]


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def _write_pb(client: Any, write: Write, guard: datetime | None | bool) -> Any:
    from google.cloud.firestore_v1 import _helpers

    full_path = client.document(write.path)._document_path
    data = to_firestore(client, write.data) if write.data is not None else None
    if write.op == "delete":
        pb = _helpers.pb_for_delete(full_path, None)
    elif write.op == "create":
        pb = _helpers.pbs_for_create(full_path, data)[0]
    elif write.op == "merge":
        pb = _helpers.pbs_for_set_with_merge(full_path, data, merge=True)[0]
    else:
        pb = _helpers.pbs_for_set_no_merge(full_path, data)[0]
    if guard is True or write.op == "create":
        return pb  # a create already requires absence
    option = _helpers.ExistsOption(False) if guard is None else _helpers.LastUpdateOption(guard)
    option.modify_write(pb)
    return pb
