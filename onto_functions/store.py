"""The one way to read and write documents and models: `Store`.

A handler receives a `Store` (the event's unit of work, see unit_of_work.py):
its reads are recorded and its writes commit with the ledger mark, or not at
all. Tests and scripts wrap a plain client the same way, `Store(db)`, whose
writes apply at once. Models are plain data and know nothing of Firestore
I/O, so there is exactly one persistence API and no import cycle between
models and storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, TypeVar

from .clients import document_client
from .firestore_rest import Filters, FirestoreRest, StoredDocument
from .firestore_writes import Write, write_json
from .names import relative_path as _relative
from .values import DocRef

if TYPE_CHECKING:  # pragma: no cover
    from .models import DomainModel, Model, ViewModel

D = TypeVar("D", bound="DomainModel")
V = TypeVar("V", bound="ViewModel")

__all__ = ["Filters", "Store", "StoredDocument", "fetch", "run_query", "from_firestore"]


class Store:
    """Reads and writes documents and models through one Firestore client."""

    def __init__(self, client: Any) -> None:
        """`client`: the runtime's FirestoreRest, or a google.cloud.firestore Client (tests, scripts)."""
        self.client: FirestoreRest = document_client(client)

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
        self._apply(Write("merge" if merge else "set", path.strip("/"), dict(data)))

    def create_document(self, path: str, data: Mapping[str, Any]) -> None:
        """Create; fails with FirestoreError ALREADY_EXISTS if the document exists."""
        self._apply(Write("create", path.strip("/"), dict(data)))

    def remove(self, path: str) -> None:
        self._apply(Write("delete", path.strip("/")))

    def _apply(self, write: Write) -> None:
        self.client.commit_with_retry([write_json(write, self.client)])

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
            obj.doc_id = self.client.new_document_id()
        self.create_document(obj.path, obj.to_document())

    def delete(self, obj: "Model") -> None:
        self.remove(obj.path)  # type: ignore[attr-defined]


def fetch(client: Any, paths: list[str], transaction: str | None = None) -> list[StoredDocument | None]:
    """Several documents in one round trip, optionally inside a transaction."""
    return document_client(client).get_all(paths, transaction)


def run_query(client: Any, collection: str, filters: Filters, transaction: str | None = None) -> list[StoredDocument]:
    """An equality query on one collection, optionally inside a transaction."""
    return document_client(client).query(collection, filters, transaction)


def from_firestore(value: Any) -> Any:
    """A google.cloud.firestore value's DocumentReference → DocRef, recursively (for code that reads
    through the client library, as backfill's snapshot does), so models see one reference type."""
    if hasattr(value, "path") and hasattr(value, "_client") and hasattr(value, "id"):
        return DocRef(_relative(value.path))
    if isinstance(value, dict):
        return {k: from_firestore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_firestore(v) for v in value]
    return value
