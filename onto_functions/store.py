"""The one way to read and write documents and models: `Store`.

A handler receives a `Store` (the event's unit of work, see unit_of_work.py):
its reads are recorded and its writes commit with the ledger mark, or not at
all. Tests and scripts wrap a plain client the same way, `Store(db)`, whose
writes apply at once. Models are plain data and know nothing of Firestore
I/O, so there is exactly one persistence API and no import cycle between
models and storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping, TypeVar

from .names import relative_path as _relative
from .values import DocRef, GeoPoint

if TYPE_CHECKING:  # pragma: no cover
    from google.cloud.firestore import Client

    from .models import DomainModel, Model, ViewModel

D = TypeVar("D", bound="DomainModel")
V = TypeVar("V", bound="ViewModel")

Filters = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class StoredDocument:
    path: str
    data: dict[str, Any]
    update_time: datetime | None
    create_time: datetime | None


class Store:
    """Reads and writes documents and models through one Firestore client."""

    def __init__(self, client: "Client") -> None:
        if not (hasattr(client, "document") and hasattr(client, "get_all")):
            raise TypeError(f"Store needs a google.cloud.firestore Client, got {type(client).__name__}")
        self.client = client

    # -- raw documents ---------------------------------------------------------
    def read(self, path: str) -> StoredDocument | None:
        return self.read_all([path])[0]

    def read_all(self, paths: Iterable[str]) -> list[StoredDocument | None]:
        """Read several documents in one round trip, in the order given."""
        return self._fetch([p.strip("/") for p in paths])

    def _fetch(self, paths: list[str]) -> list[StoredDocument | None]:
        return fetch(self.client, paths)

    def _run_query(self, collection: str, filters: Filters) -> list[StoredDocument]:
        return run_query(self.client, collection, filters)

    def write(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        payload = to_firestore(self.client, dict(data))
        self.client.document(path).set(payload, merge=merge, retry=write_retry())

    def create_document(self, path: str, data: Mapping[str, Any]) -> None:
        """Create; fails with AlreadyExists if the document exists."""
        payload = to_firestore(self.client, dict(data))
        self.client.document(path).create(payload, retry=write_retry())

    def remove(self, path: str) -> None:
        self.client.document(path).delete(retry=write_retry())

    # -- models --------------------------------------------------------------
    def get(self, model: type[D], doc_id: str | DocRef) -> D | None:
        path = model.path_for(doc_id)
        doc = self.read(path)
        return None if doc is None else model.from_document(path, doc.data)

    def get_many(self, model: type[D], doc_ids: Iterable[str | DocRef]) -> list[D]:
        """The documents that exist among `doc_ids`, in one round trip, in the order given."""
        paths = [model.path_for(d) for d in doc_ids]
        return [model.from_document(p, d.data) for p, d in zip(paths, self.read_all(paths)) if d is not None]

    def get_view(self, view: type[V], **params: str) -> V | None:
        path = view.path_template().format(**params)
        doc = self.read(path)
        return None if doc is None else view.from_document(path, doc.data)

    def query(self, model: type[D], **equals: Any) -> list[D]:
        """Documents of `model` whose fields equal the given values (by attribute name)."""
        for name in equals:
            if name not in model._fields:
                raise TypeError(f"{model.__name__} has no field {name!r} to query on")
        filters = tuple(sorted(
            ((model._fields[n].data_key or n), v) for n, v in equals.items()
        ))
        return [model.from_document(d.path, d.data) for d in self._run_query(model.collection(), filters)]

    def save(self, obj: "Model") -> None:
        self.write(obj.path, obj.to_document())  # type: ignore[attr-defined]

    def create(self, obj: "DomainModel") -> None:
        """Create a domain document; one without a `doc_id` gets a new random id."""
        if not obj.doc_id:
            obj.doc_id = self.client.collection(obj.collection()).document().id
        self.create_document(obj.path, obj.to_document())

    def delete(self, obj: "Model") -> None:
        self.remove(obj.path)  # type: ignore[attr-defined]


def fetch(client: Any, paths: list[str], transaction: Any = None) -> list[StoredDocument | None]:
    """Several documents in one round trip, optionally inside a transaction."""
    if not paths:
        return []
    refs = [client.document(p) for p in paths]
    by_path: dict[str, StoredDocument | None] = {}
    for snap in client.get_all(refs, transaction=transaction):
        by_path[_relative(snap.reference.path)] = _stored(snap)
    return [by_path.get(p) for p in paths]


def run_query(client: Any, collection: str, filters: Filters, transaction: Any = None) -> list[StoredDocument]:
    """An equality query on one collection, optionally inside a transaction."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    q: Any = client.collection(collection)
    for key, value in filters:
        q = q.where(filter=FieldFilter(key, "==", to_firestore(client, value)))
    snaps = q.get(transaction=transaction) if transaction is not None else q.get()
    return [d for d in map(_stored, snaps) if d is not None]


_retry: Any = None


def write_retry() -> Any:
    """Retry a single write that lost a lock race, as Firestore's client SDKs do.

    A write outside a transaction can be aborted while a transaction holds a
    lock on its document (the emulator breaks such waits with a 2 s lock
    timeout). An aborted write did not happen, so trying it again is safe.
    """
    global _retry
    if _retry is None:
        from google.api_core import exceptions as gexc
        from google.api_core.retry import Retry, if_exception_type

        _retry = Retry(
            predicate=if_exception_type(gexc.Aborted, gexc.ServiceUnavailable),
            initial=0.05, maximum=2.0, multiplier=2.0, timeout=60.0,
        )
    return _retry


def _stored(snap: Any) -> StoredDocument | None:
    if not snap.exists:
        return None
    return StoredDocument(
        path=_relative(snap.reference.path),
        data=from_firestore(snap.to_dict() or {}),
        update_time=snap.update_time,
        create_time=snap.create_time,
    )


def to_firestore(client: Any, value: Any) -> Any:
    """DocRef → DocumentReference and GeoPoint → the client's, recursively; the rest as is."""
    if isinstance(value, DocRef):
        return client.document(value.path)
    if isinstance(value, GeoPoint):
        from google.cloud.firestore import GeoPoint as ClientGeoPoint

        return ClientGeoPoint(value.latitude, value.longitude)
    if isinstance(value, dict):
        return {k: to_firestore(client, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_firestore(client, v) for v in value]
    return value


def from_firestore(value: Any) -> Any:
    """DocumentReference → DocRef, recursively, so models see one reference type."""
    if hasattr(value, "path") and hasattr(value, "_client") and hasattr(value, "id"):
        return DocRef(_relative(value.path))
    if isinstance(value, dict):
        return {k: from_firestore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_firestore(v) for v in value]
    return value
