"""Review 11b, on the real emulator: the REST client's changes of commit 7c712dd.

Each test states what should hold and fails while the code does otherwise.
"""

from __future__ import annotations

import base64
from datetime import datetime

import pytest

from onto_functions.clients import document_client
from onto_functions.firestore_rest import FirestoreError
from onto_functions.store import Store

BOGUS_TRANSACTION = base64.b64encode(b"no such transaction").decode("ascii")


def test_a_query_under_a_colon_parent_fails_with_a_firestore_error_as_any_other_query(db):
    """The unit of work and executor sort failures by FirestoreError.status (ABORTED: contention, retried;
    DEADLINE_EXCEEDED/UNAVAILABLE: unknown outcome). The emulator-only gRPC fallback for a ':' parent lets
    google.api_core's exceptions through instead: on the local stack a query of a transaction that the
    emulator refuses becomes "the handler's error" there, where the same query under another parent is
    a FirestoreError."""
    rest = document_client(db)
    Store(db).write("rooms/a:b/members/m1", {"n": 1})
    Store(db).write("rooms/ab/members/m1", {"n": 1})
    with pytest.raises(FirestoreError):  # the REST path: a FirestoreError with a status
        rest.query("rooms/ab/members", (), transaction=BOGUS_TRANSACTION)
    with pytest.raises(FirestoreError):  # the gRPC fallback: google.api_core.exceptions.InvalidArgument
        rest.query("rooms/a:b/members", (), transaction=BOGUS_TRANSACTION)


def test_a_naive_datetime_finds_the_document_it_was_written_to(db):
    """Writes now store a naive datetime as UTC, as the client library does; the library also queries with a
    naive datetime as UTC. The REST client's equality filter refuses it (ValueError: naive), so a handler
    that writes `datetime.utcnow()` and later looks the document up by that value fails."""
    at = datetime(2024, 5, 6, 7, 8, 9, 123000)  # naive: as datetime.utcnow() gives
    store = Store(db)
    store.write("slots/s1", {"at": at})
    found = document_client(db).query("slots", (("at", at),))
    assert [d.path for d in found] == ["slots/s1"]
