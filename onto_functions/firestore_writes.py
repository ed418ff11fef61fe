"""A buffered write, and how it is spelled in a REST `commit`.

One write kind per thing a handler or the ledger does to a document: `set`
(replace), `merge` (set the given leaf fields, keep the rest, as the SDKs'
`set(..., merge=True)`), `create` (only if absent) and `delete`. A guard is
the precondition that makes a commit serialisable: the update time the
document must still have, `None` for "must not exist", `True` for none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator, Mapping

from .firestore_rest import FirestoreRest, field_path
from .values import encode_json_fields, format_timestamp


@dataclass(frozen=True)
class Write:
    op: str  # "set" | "merge" | "create" | "delete"
    path: str
    data: dict[str, Any] | None = None


def write_json(write: Write, client: FirestoreRest, guard: datetime | None | bool = True) -> dict[str, Any]:
    """`write` as a REST `Write` to `client`'s database, with `guard` as its precondition."""
    name = client.name(write.path)
    if write.op == "delete":
        body: dict[str, Any] = {"delete": name}
    else:
        data = write.data or {}
        body = {"update": {"name": name, "fields": encode_json_fields(data, client.root, naive_as_utc=True)}}
        if write.op == "merge":
            body["updateMask"] = {"fieldPaths": [field_path(p) for p in leaf_paths(data)]}
    if write.op == "create" or guard is None:
        body["currentDocument"] = {"exists": False}
    elif isinstance(guard, datetime):
        body["currentDocument"] = {"updateTime": format_timestamp(guard)}
    return body


def leaf_paths(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The field paths a merge sets: every leaf, where an empty map is a leaf (as the SDKs count)."""
    for key, value in sorted(data.items()):
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, path)
        else:
            yield path
