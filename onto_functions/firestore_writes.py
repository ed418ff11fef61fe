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

from .firestore_rest import field_path
from .values import encode_json_fields, format_timestamp, utc_when_naive


@dataclass(frozen=True)
class Write:
    op: str  # "set" | "merge" | "create" | "delete"
    path: str
    data: dict[str, Any] | None = None


def write_json(write: Write, name: str, root: str, guard: datetime | None | bool = True) -> dict[str, Any]:
    """`write` of the document called `name` as a REST `Write`, with `guard` as its precondition."""
    if write.op == "delete":
        body: dict[str, Any] = {"delete": name}
    else:
        body = {"update": {"name": name, "fields": encode_json_fields(utc_when_naive(write.data or {}), root)}}
        if write.op == "merge":
            body["updateMask"] = {"fieldPaths": [field_path(p) for p in leaf_paths(write.data or {})]}
    if write.op == "create":
        body["currentDocument"] = {"exists": False}
    elif guard is None:
        body["currentDocument"] = {"exists": False}
    elif guard is not True and guard is not False:
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
