"""Firestore document names and paths: one parser, one builder, one set of rules.

A document has two spellings: its resource name,
`projects/{project}/databases/{database}/documents/{path}` (in events and
reference values), and its path relative to the database, `tickets/t1`
(triggers, the ledger, handlers, the client library). Events come from outside,
so a path is checked against Firestore's own rules before anything keys on it:
`/tickets/t1/` or `tickets//t1` must never become a second ledger key for
`tickets/t1`, nor reach a handler.

The rules are Firestore's documented limits ("Quotas and limits"; "Storage size
calculations"), each confirmed on the Cloud Firestore emulator 1.19:

- an id is valid UTF-8, at most 1,500 bytes, has no '/', is not '.' or '..'
  and does not match `__.*__` (reserved; the emulator refuses `__x__`, and
  `__\\n__` too). One exception: a *document* id may be `__id<n>__`, how
  Firestore exposes a numeric Datastore id; the emulator accepts it for a
  non-zero 64-bit n without leading zeros (`__id7__`, `__id-1__`) and refuses
  `__id0__`, `__id01__` and any such collection id;
- a document path alternates collection and document ids (an even number of
  segments) and is at most 100 collections deep (the emulator: "Key path is
  too long. Cannot exceed 100 elements", past 100 pairs);
- a document name is at most 6 KiB, counted as Firestore counts its storage:
  each id's UTF-8 bytes + 1 (8 bytes for a numeric id), plus 16. (The
  emulator does not enforce this one; production does.)

NUL and other control characters are valid UTF-8, documented as allowed and
accepted by the emulator, so they pass.

Pure string work: this module is on a deployed function's cold-start path.
"""

from __future__ import annotations

import re
import reprlib

# Top-level collections onto keeps its bookkeeping in (ledger.py); no source or view may use them.
RESERVED_PREFIX = "_onto_"
MAX_ID_BYTES = 1500
MAX_COLLECTION_DEPTH = 100
MAX_NAME_SIZE = 6 * 1024
_NAME_OVERHEAD = 16  # bytes Firestore adds to the ids of a name
_NUMERIC_ID_SIZE = 8
_INT64 = range(-(2**63), 2**63)
_DATASTORE_ID = re.compile(r"__id(-?[1-9][0-9]*)__", re.ASCII)
_NAME_LAYOUT = "projects/{p}/databases/{d}/documents/"


class DocumentPathError(ValueError):
    """A document name or path Firestore would refuse; the message names it and the rule."""


# ---------------------------------------------------------------- messages


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 120
_SHORT.maxlong = 40


def quoted(value: object) -> str:
    """User text as a message shows it: a repr, on one line, cut to a readable length."""
    return _SHORT.repr(value)


# ---------------------------------------------------------------- names


def documents_root(project: str, database: str) -> str:
    """The prefix that turns a relative document path into a resource name."""
    return f"projects/{project}/databases/{database}/documents"


def document_name(project: str, database: str, path: str) -> str:
    """`("p", "d", "a/b")` -> `projects/p/databases/d/documents/a/b`, each part checked first."""
    check_location(project, database)
    check_document_path(path)
    return f"{documents_root(project, database)}/{path}"


def parse_document_name(name: str) -> tuple[str, str, str]:
    """`projects/p/databases/d/documents/a/b` -> `("p", "d", "a/b")`, or DocumentPathError."""
    parts = _split_name(name)
    if parts is None:
        raise DocumentPathError(f"document name {quoted(name)} is not under {_NAME_LAYOUT}")
    problem = path_problem(parts[2])
    if problem:
        raise DocumentPathError(f"document name {quoted(name)}: its path {problem}")
    return parts


def check_location(project: str, database: str) -> None:
    """Refuse a project or database id that cannot stand in a resource name."""
    for what, value in (("project", project), ("database", database)):
        if not value or "/" in value:
            raise DocumentPathError(f"{what} id {quoted(value)} cannot be part of a document name")


def relative_path(path_or_name: str) -> str:
    """The database-relative path, given either spelling (as the client library hands out).

    Not a validation: paths the client library produced are Firestore's own.
    """
    parts = _split_name(path_or_name)
    return parts[2] if parts is not None else path_or_name.strip("/")


def _split_name(name: str) -> tuple[str, str, str] | None:
    # Split on segments, not on "/documents/": a project or collection may be called "documents".
    parts = name.split("/", 5)
    if (
        len(parts) != 6
        or (parts[0], parts[2], parts[4]) != ("projects", "databases", "documents")
        or not parts[1]
        or not parts[3]
    ):
        return None
    return parts[1], parts[3], parts[5]


# ---------------------------------------------------------------- paths


def check_document_path(path: str) -> str:
    """`path` itself if Firestore would accept it as a document path, else DocumentPathError."""
    problem = path_problem(path)
    if problem:
        raise DocumentPathError(f"document path {quoted(path)} {problem}")
    return path


def path_problem(path: str) -> str | None:
    """Which of Firestore's rules `path` breaks ("ends with '/'", ...), or None.

    Every event's path and reference values pass here, so the common case is
    kept to a few C-level string operations; ids are examined one by one only
    when one of them might break a rule.
    """
    if not path:
        return "is empty"
    if path.startswith("/") or path.endswith("/"):
        return f"{'starts' if path.startswith('/') else 'ends'} with '/'"
    segments = path.split("/")
    if len(segments) > 2 * MAX_COLLECTION_DEPTH:
        return f"is {(len(segments) + 1) // 2} collections deep: Firestore allows {MAX_COLLECTION_DEPTH}"
    try:
        length: int | None = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        length = None
    if length is None or length > MAX_ID_BYTES or "__" in path or _has_bad_segment(segments):
        problem = _ids_problem(segments)
        if problem:
            return problem
    if len(segments) % 2:
        return (
            f"has an odd number of segments ({len(segments)}): a document path alternates "
            "collection and document ids"
        )
    size = _name_size(segments, length or 0)
    if size > MAX_NAME_SIZE:
        return f"makes a document name of {size} bytes: Firestore allows {MAX_NAME_SIZE} (6 KiB)"
    return None


def _has_bad_segment(segments: list[str]) -> bool:
    return "" in segments or "." in segments or ".." in segments


def _ids_problem(segments: list[str]) -> str | None:
    for index, segment in enumerate(segments):
        kind = "a document" if index % 2 else "a collection"
        problem = _id_problem(segment, is_document=index % 2 == 1)
        if problem:
            return f"has {kind} id {problem} (segment {index + 1})"
    return None


def _name_size(segments: list[str], length: int) -> int:
    """Firestore's count: each id's UTF-8 bytes + 1, plus 16 (8 bytes for a numeric id).

    The slashes between ids stand for all but one of the +1s.
    """
    size = length + 1 + _NAME_OVERHEAD
    for segment in segments[1::2]:
        if segment.startswith("__id") and _numeric_id(segment) is not None:
            size -= len(segment) + 1 - _NUMERIC_ID_SIZE  # ASCII: characters are bytes
    return size


def _id_problem(segment: str, *, is_document: bool) -> str | None:
    if not segment:
        return "that is empty"
    try:
        length = len(segment.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{quoted(segment)} that is not valid UTF-8"
    if length > MAX_ID_BYTES:
        return f"of {length} bytes: Firestore allows {MAX_ID_BYTES}"
    if segment in (".", ".."):
        return f"{segment!r}, which Firestore does not allow"
    if len(segment) >= 4 and segment.startswith("__") and segment.endswith("__"):
        if not (is_document and _numeric_id(segment) is not None):
            return f"{quoted(segment)} that is reserved (ids matching __.*__)"
    return None


def _numeric_id(segment: str) -> int | None:
    """n of `__id<n>__`, a Datastore numeric id Firestore exposes as a document id."""
    match = _DATASTORE_ID.fullmatch(segment)
    if match is None or len(match.group(1)) > 20:
        return None
    number = int(match.group(1))
    return number if number in _INT64 else None
